"""The admins' command line: `distriktsbot stats`, `unanswered`, `learn` and `export`, in process
(`bot.cli.main`), against a SQLite database and a copy of the knowledge under tmp_path."""

from __future__ import annotations

import asyncio
import csv
import difflib
import io
import json
import os
from pathlib import Path

import pytest

from bot import messages
from bot.cli import main
from bot.dialogue import Dialogue, Person
from bot.knowledge import load_knowledge
from bot.storage import Storage
from tests.conftest import KNOWLEDGE_DIR, copy_knowledge

SECRET = "cli-admin-secret-0123456789abcdef"
LEARNABLE = "Blir det flere jobber på sokkelen?"


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, Path]:
    for name in list(os.environ):
        if name.startswith("DISTRIKTSBOT_"):
            monkeypatch.delenv(name)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DISTRIKTSBOT_DATABASE_URL", url)
    monkeypatch.setenv("DISTRIKTSBOT_HASH_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    knowledge = tmp_path / "knowledge"
    copy_knowledge(knowledge)
    return url, knowledge


async def _converse(url: str, knowledge: Path) -> None:
    """Voters talk to the bot's dialogue (as Telegram would): votes, questions, misses."""
    storage = await Storage.open(url)
    try:
        dialogue = Dialogue(load_knowledge(knowledge), storage, secret=SECRET)
        for uid, agree in ((501, True), (502, True), (503, False)):
            person = Person(uid, uid)
            reply = await dialogue.ask(person, "Blir ferja billigere?")
            assert reply.topic_id == "fergetakster"
            await dialogue.press(person, f"{'ja' if agree else 'nei'}:fergetakster")
        await dialogue.ask(Person(504, 504), LEARNABLE)
        await dialogue.ask(Person(505, 505), "blir det flere jobber på sokkelen")
        await dialogue.ask(Person(506, 506), "Hva med ulven?")
        await dialogue.drain()
    finally:
        await storage.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_stats_text_csv_and_chart(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url, knowledge = setup
    asyncio.run(_converse(url, knowledge))
    code, out, _ = run(capsys, "stats", "--knowledge", str(knowledge))
    assert code == 0
    kb = load_knowledge(knowledge)
    for topic in kb.topics:
        assert topic.title in out
    ferry = next(line for line in out.splitlines() if "Fergetakster" in line)
    assert "Enig 2" in ferry and "Uenig 1" in ferry

    chart = tmp_path / "chart.png"
    code, out, _ = run(capsys, "stats", "--csv", "--chart", str(chart), "-k", str(knowledge))
    assert code == 0
    rows = {r["emne_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["fergetakster"]["enig"], rows["fergetakster"]["uenig"]) == ("2", "1")
    assert chart.read_bytes().startswith(b"\x89PNG")

    # a period before anything happened
    code, out, _ = run(
        capsys, "stats", "--since", "2020-01-01", "--until", "2020-01-31", "-k", str(knowledge)
    )
    assert code == 0 and "Enig 0" in out
    code, _, err = run(capsys, "stats", "--since", "i går", "-k", str(knowledge))
    assert code == 2 and messages.CLI_NOT_A_DATE.format(option="--since", value="i går") in err
    code, _, err = run(
        capsys, "stats", "--since", "2026-02-01", "--until", "2026-01-01", "-k", str(knowledge)
    )
    assert code == 2 and messages.CLI_SINCE_AFTER_UNTIL in err


def test_unanswered_learn_and_export(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, knowledge = setup
    asyncio.run(_converse(url, knowledge))
    code, out, _ = run(capsys, "unanswered", "-k", str(knowledge))
    assert code == 0
    # for people: in Norwegian, the guesses by their titles
    assert f"«{LEARNABLE}» – gjetninger: «Aktiv næringspolitikk»" in out
    code, out, _ = run(capsys, "unanswered", "--json", "-k", str(knowledge))
    assert code == 0
    groups = json.loads(out)
    assert [g["count"] for g in groups] == [2, 1]
    assert groups[0]["text"] == LEARNABLE and "naeringspolitikk" in groups[0]["guesses"]
    assert all(len(g["group"]) <= 10 for g in groups)

    yaml_file = knowledge / "distriktspolitikk.yaml"
    before = yaml_file.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "learn", LEARNABLE, "naeringspolitikk", "-k", str(knowledge))
    assert code == 0, out
    assert messages.INBOX_LANDS.format(title="Aktiv næringspolitikk") in out  # in Norwegian
    assert "Selvtest" in out
    after = yaml_file.read_text(encoding="utf-8")
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [f'+      - "{LEARNABLE}"']  # quoted like the examples before it
    # the group has left the inbox
    code, out, _ = run(capsys, "unanswered", "--json", "-k", str(knowledge))
    assert [g["text"] for g in json.loads(out)] == ["Hva med ulven?"]
    # an unknown topic: nothing written
    code, _, err = run(capsys, "learn", "Hva med ulven?", "ulv", "-k", str(knowledge))
    assert code == 2 and "Det finnes ikke noe emne med id «ulv»." in err
    assert "fergetakster" in err  # the ids there are
    code, _, err = run(capsys, "learn", "Hva med ulven?", "Naeringspolitikk", "-k", str(knowledge))
    assert code == 2 and "Mente du «naeringspolitikk»?" in err
    assert yaml_file.read_text(encoding="utf-8") == after

    code, out, _ = run(capsys, "export", "-k", str(knowledge))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["emne_id"], r["enig"], r["uenig"], r["omrade"]) for r in rows] == [
        ("fergetakster", "2", "1", "distriktspolitikk")
    ]
    assert set(rows[0]) == {"dag", "omrade", "emne_id", "enig", "uenig"}  # no person in it


def test_console_admin_renders_the_chart_and_csv_as_saved_files(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, knowledge = setup
    asyncio.run(_converse(url, knowledge))
    lines = iter(["/statistikk", "/statistikk csv", "/ubesvarte", "/slutt"])

    def read() -> str:
        return next(lines)

    import dataclasses

    from bot.config import load_config
    from bot.console import CONSOLE_PERSON, run_console
    from bot.services import StorageMode, open_services

    async def chat(as_admin: bool) -> str:
        cfg = load_config(None)
        if as_admin:
            cfg = dataclasses.replace(cfg, admins=(CONSOLE_PERSON.user_id,))
        out = io.StringIO()
        async with open_services(
            cfg, knowledge=knowledge, storage=StorageMode.REQUIRED
        ) as services:
            await run_console(services.dialogue, read, out, admin=services.admin)
        return out.getvalue()

    shown = asyncio.run(chat(True))
    assert "[bilde: statistikk_" in shown and "[fil: statistikk_" in shown
    saved = [
        Path(line[len("(lagret: ") : -1])
        for line in shown.splitlines()
        if line.startswith("(lagret: ")
    ]
    assert [p.suffix for p in saved] == [".png", ".csv"]
    assert saved[0].read_bytes().startswith(b"\x89PNG")
    assert "emne_id" in saved[1].read_text(encoding="utf-8")
    assert LEARNABLE in shown  # the inbox
    # the same console without admin rights: unknown commands
    lines = iter(["/statistikk", "/slutt"])
    plain = asyncio.run(chat(False))
    assert "Den kommandoen kjenner jeg ikke" in plain and "[bilde:" not in plain


def test_admin_commands_never_create_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from the wrong folder, `stats` used to create a new database there and report zeros."""
    for name in list(os.environ):
        if name.startswith("DISTRIKTSBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DISTRIKTSBOT_HASH_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    for command in (["stats"], ["unanswered"], ["export"]):
        code, out, err = run(capsys, *command, "-k", str(KNOWLEDGE_DIR))
        assert code != 0 and out == ""
        assert messages.CLI_NO_DATABASE.split("{")[0] in err
        assert str(tmp_path / "distriktsbot.sqlite3") in err
    assert list(tmp_path.iterdir()) == []
