"""The admins' side end to end, through the stand-in Bot API: /oppdater, /statistikk,
/ubesvarte with its buttons, the admins' command menu, errors reported to the admins and the
retention job. Every admin feature is also tried by a voter, who learns nothing.

The knowledge is a copy under tmp_path (the bot writes into it); the shipped files are never
touched.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from telegram.ext import Application

from bot import messages
from bot.admin import ADMIN_COMMAND_NAMES
from bot.config import AdminToolsConfig, Config
from bot.knowledge import load_knowledge
from bot.services import Services
from bot.storage import GroupState
from bot.storage.outbox import Finished, RowStatus, Started
from bot.storage.schema import BroadcastRow, UnansweredQuestionRow
from handlers.common import SERVICES
from tests.conftest import copy_knowledge
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.test_telegram_e2e import (
    FERRY_QUESTION,
    ROOT,
    assert_answer,
    find_ambiguous_question,
    make_config,
    serving,
    text_of,
    voter,
)

ADMIN_ID = 4242
VOTER_ID = 1001
LEARNABLE = "Blir det flere jobber på sokkelen?"  # declined today; lands once it is an example
LEARNABLE_TOPIC = "naeringspolitikk"
SECOND_AREA = ROOT / "tests" / "data" / "areas" / "testomrade.yaml"


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    copy_knowledge(folder)
    return folder


@pytest.fixture
def yaml_file(knowledge_dir: Path) -> Path:
    return knowledge_dir / "distriktspolitikk.yaml"


def admin_config(fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path, **tools: Any) -> Config:
    cfg = make_config(fake, tmp_path / "bot.sqlite3")
    return dataclasses.replace(
        cfg,
        admins=(ADMIN_ID,),
        knowledge=str(knowledge_dir),
        admin_tools=dataclasses.replace(AdminToolsConfig(), **tools),
    )


Bot = tuple[FakeTelegram, Application[Any, Any, Any, Any, Any, Any], Services]


@pytest.fixture
async def bot(fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path) -> AsyncIterator[Bot]:
    cfg = admin_config(fake, tmp_path, knowledge_dir)
    async with serving(cfg, load_knowledge(knowledge_dir)) as app:
        yield fake, app, app.bot_data[SERVICES]


def admin(fake: FakeTelegram) -> Any:
    return voter(fake, ADMIN_ID, "Anne")


def kari(fake: FakeTelegram) -> Any:
    return voter(fake, VOTER_ID, "Kari")


async def replies(fake: FakeTelegram, chat_id: int, n: int) -> list[SentMessage]:
    return [await fake.next_message(chat_id) for _ in range(n)]


def unknown_command_reply(message: SentMessage) -> tuple[str | None, Any]:
    return message.plain_text, message.reply_markup


# --------------------------------------------------------------------------------------------
# Who is an admin
# --------------------------------------------------------------------------------------------


async def test_admins_see_their_commands_voters_never_do(bot: Bot) -> None:
    fake, _, _ = bot
    default = [c["command"] for c in fake.commands()]
    assert not set(ADMIN_COMMAND_NAMES) & set(default)
    scoped = [c["command"] for c in fake.commands({"type": "chat", "chat_id": ADMIN_ID})]
    assert set(ADMIN_COMMAND_NAMES) <= set(scoped)
    assert set(default) <= set(scoped)  # the voters' commands stay in the admin's menu
    assert fake.commands({"type": "chat", "chat_id": VOTER_ID}) == []

    start = await admin(fake).say("/start")
    for name in ADMIN_COMMAND_NAMES:
        assert f"/{name}" in text_of(start)
    voter_start = await kari(fake).say("/start")
    assert not any(f"/{name}" in text_of(voter_start) for name in ADMIN_COMMAND_NAMES)
    assert "admin" not in text_of(voter_start)


async def test_a_voter_gets_the_unknown_command_reply_for_every_admin_command(bot: Bot) -> None:
    fake, _, _ = bot
    k = kari(fake)
    unknown = await k.say("/finnesikke")
    assert text_of(unknown) == messages.UNKNOWN_COMMAND
    for name in ADMIN_COMMAND_NAMES:
        for text in (f"/{name}", f"/{name} csv", f"/{name}@{fake.bot_username}"):
            reply = await k.say(text)
            assert unknown_command_reply(reply) == unknown_command_reply(unknown), text
    assert fake.calls_to("sendPhoto") == [] and fake.calls_to("sendDocument") == []


async def test_admin_commands_work_in_private_chats_only(bot: Bot) -> None:
    fake, _, _ = bot
    anne = admin(fake)
    group = fake.group(-100777)
    # in a group, an admin command is treated as any unknown command there: no answer
    fake.send_text(anne.user, "/statistikk", chat=group)
    fake.send_text(anne.user, "/finnesikke", chat=group)
    await fake.assert_no_message(group.id, within=0.5)
    # in private, it works
    anne.send("/statistikk")
    assert "Statistikk" in text_of(await fake.next_message(ADMIN_ID, timeout=20))


async def test_forged_admin_buttons_do_nothing_for_a_voter(bot: Bot, yaml_file: Path) -> None:
    fake, _, services = bot
    k, anne = kari(fake), admin(fake)
    assert text_of(await k.say(LEARNABLE)) == messages.DONT_KNOW
    inbox = await anne.say("/ubesvarte")
    learn_data = inbox.button(services.kb.topic(LEARNABLE_TOPIC).title)  # type: ignore[union-attr]
    ignore_data = inbox.button(messages.BUTTON_IGNORE)
    not_ours_data = inbox.button(messages.BUTTON_NOT_OURS)
    before = yaml_file.read_bytes()

    # what a voter gets for a button the bot does not know at all
    ferry = await k.say(FERRY_QUESTION)
    unknown = await k.press_data(ferry, "zz:nothing")
    assert text_of(unknown) == messages.UNKNOWN_BUTTON
    for data in (
        learn_data,
        ignore_data,
        not_ours_data,
        "uv",
        inbox.button(messages.BUTTON_OTHER_TOPIC),
    ):
        reply = await k.press_data(ferry, data)
        assert (reply.plain_text, reply.reply_markup) == (unknown.plain_text, unknown.reply_markup)

    assert yaml_file.read_bytes() == before
    assert services.storage is not None
    groups = await services.storage.unanswered.open_questions()
    assert len(groups) == 1 and groups[0].text == LEARNABLE
    again = await anne.say("/ubesvarte")
    assert LEARNABLE in text_of(again)


# --------------------------------------------------------------------------------------------
# /oppdater
# --------------------------------------------------------------------------------------------


async def test_oppdater_reports_what_changed_and_the_self_test(bot: Bot, yaml_file: Path) -> None:
    fake, _, _ = bot
    anne, k = admin(fake), kari(fake)
    text = yaml_file.read_text(encoding="utf-8")
    text = text.replace("title: Fergetakster", "title: Billigere ferje", 1)
    text = text.replace(
        "      - Blir ferja billigere?\n",
        "      - Blir ferja billigere?\n      - Når blir ferja gratis?\n",
        1,
    )
    yaml_file.write_text(text, encoding="utf-8")

    report = text_of(await anne.say("/oppdater"))
    assert "«Billigere ferje»" in report
    assert messages.RELOAD_EXAMPLES.format(count=1) in report
    assert "Selvtest" in report
    # voters get the new knowledge at once
    ferry = await k.say(FERRY_QUESTION)
    assert "Billigere ferje" in text_of(ferry)

    # nothing changed: said so
    again = text_of(await anne.say("/oppdater"))
    assert messages.RELOAD_NO_CHANGE in again

    # a keyword that is also a practical-information cue: loaded, with the same warning as
    # `distriktsbot check`
    text = yaml_file.read_text(encoding="utf-8")
    text = text.replace("  practical:\n", "  practical:\n    - dyr ferje\n", 1)
    yaml_file.write_text(text, encoding="utf-8")
    warned = text_of(await anne.say("/oppdater"))
    assert (
        "⚠️ Advarsel: fergetakster: nøkkelordet «dyr ferje» står også under out_of_scope.practical"
        in warned
    )
    assert "Selvtest" in warned

    # a voter cannot reload
    assert text_of(await k.say("/oppdater")) == messages.UNKNOWN_COMMAND


async def test_oppdater_refuses_a_pledge_the_party_never_wrote(bot: Bot, yaml_file: Path) -> None:
    fake, _, services = bot
    anne, k = admin(fake), kari(fake)
    invented = "Gratis ferje for alle innen 2027."
    text = yaml_file.read_text(encoding="utf-8")
    yaml_file.write_text(text.replace("Halvere fergetakstene.", invented, 1), encoding="utf-8")
    report = text_of(await anne.say("/oppdater"))
    assert report.startswith(messages.RELOAD_FAILED)
    assert f"«{invented}» står ikke ordrett i partiets tekst" in report
    ferry = await k.say(FERRY_QUESTION)  # voters keep the party's own words
    assert_answer(ferry, services.kb, "fergetakster")
    assert "Halvere fergetakstene." in text_of(ferry) and "2027" not in text_of(ferry)


async def test_oppdater_with_broken_yaml_keeps_serving_the_old_knowledge(
    bot: Bot, yaml_file: Path
) -> None:
    fake, _, services = bot
    anne, k = admin(fake), kari(fake)
    good = yaml_file.read_text(encoding="utf-8")
    broken = good.replace("title: Fergetakster", "title: Ny tittel", 1).replace(
        "    pledge: Halvere", "    keywrods: [x]\n    pledge: Halvere", 1
    )
    broken_lines = broken.splitlines()
    line = next(i for i, t in enumerate(broken_lines, 1) if "keywrods" in t)
    yaml_file.write_text(broken, encoding="utf-8")

    report = text_of(await anne.say("/oppdater"))
    assert report.startswith(messages.RELOAD_FAILED)
    assert f"distriktspolitikk.yaml, linje {line}" in report
    assert "ukjent felt «keywrods». Mente du «keywords»?" in report
    # the old knowledge is still served, in full
    ferry = await k.say(FERRY_QUESTION)
    assert_answer(ferry, services.kb, "fergetakster")
    assert "Ny tittel" not in text_of(ferry)
    assert "Fergetakster" in text_of(ferry)

    # not YAML at all
    yaml_file.write_text(good + "\n  - : : [\n", encoding="utf-8")
    report = text_of(await anne.say("/oppdater"))
    assert report.startswith(messages.RELOAD_FAILED) and "ikke gyldig YAML" in report
    assert_answer(await k.say(FERRY_QUESTION), services.kb, "fergetakster")

    yaml_file.write_text(good, encoding="utf-8")
    assert "lest inn på nytt" in text_of(await anne.say("/oppdater"))


PARSER_JARGON = (
    "mapping values",
    "expected <block end>",
    "found character",
    "could not find",
    "scalar",
    "while parsing",
    "while scanning",
    "YAML reader",
)
ENGLISH_WORDS = ("not valid", "column", "line ", "did you mean", "must be", "unknown", "write '")


def _first_example(text: str) -> str:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "examples:")
    return lines[at + 1]


def _edits(good: str) -> list[tuple[str, str, str, str]]:
    """Three typical slips of an admin editing by hand: (name, broken file, the line of the
    mistake, what the answer must tell them to do)."""
    example = _first_example(good)
    indent, question = example.split("- ", 1)
    colon = f"{indent}- Spørsmål: {question}"
    return [
        (
            "tab",
            good.replace("    title: Fergetakster", "\ttitle: Fergetakster", 1),
            "\ttitle: Fergetakster",
            "Bytt tabulatoren ut med mellomrom",
        ),
        (
            "colon",
            good.replace(example, colon, 1),
            colon,
            f'Sett hele teksten i doble anførselstegn: "Spørsmål: {question}"',
        ),
        (
            "id",
            good.replace("  - id: kommuneokonomi", "  - id: kommuneøkonomi", 1),
            "  - id: kommuneøkonomi",
            "Skriv «kommuneokonomi».",
        ),
    ]


async def test_oppdater_explains_three_typical_yaml_slips_in_norwegian(
    bot: Bot, yaml_file: Path
) -> None:
    """A tab, an unquoted ': ' in an example and an id with æøå: each answered in Norwegian with
    the line and what to do, never in the parser's words; the voters keep the old knowledge, and
    a voter who tries /oppdater learns nothing."""
    fake, _, services = bot
    anne, k = admin(fake), kari(fake)
    good = yaml_file.read_text(encoding="utf-8")
    for name, broken, needle, todo in _edits(good):
        assert broken != good, name
        yaml_file.write_text(broken, encoding="utf-8")
        line = next(i for i, t in enumerate(broken.splitlines(), 1) if t == needle)

        report = text_of(await anne.say("/oppdater"))
        assert report.startswith(messages.RELOAD_FAILED), (name, report)
        problems = [p for p in report.splitlines() if p.startswith("• ")]
        assert len(problems) == 1, (name, report)  # the slip itself, and nothing it caused
        assert problems[0].startswith(f"• distriktspolitikk.yaml, linje {line}"), (name, report)
        assert todo in problems[0], (name, report)
        assert not any(word in report for word in PARSER_JARGON), (name, report)
        assert not any(word in report for word in ENGLISH_WORDS), (name, report)

        # a voter learns nothing, and still gets the old knowledge
        assert text_of(await k.say("/oppdater")) == messages.UNKNOWN_COMMAND
        assert_answer(await k.say(FERRY_QUESTION), services.kb, "fergetakster")

    yaml_file.write_text(good, encoding="utf-8")
    assert text_of(await anne.say("/oppdater")).startswith(
        messages.RELOAD_DONE.format(topics=len(services.kb.topics), files=1)
    )


async def test_changed_files_are_reloaded_by_themselves_and_admins_are_told(
    fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path, yaml_file: Path
) -> None:
    cfg = admin_config(fake, tmp_path, knowledge_dir, reload_check_seconds=1)
    async with serving(cfg, load_knowledge(knowledge_dir)) as app:
        services: Services = app.bot_data[SERVICES]
        admin(fake)  # the admin exists (has a chat with the bot)
        yaml_file.write_text(
            yaml_file.read_text(encoding="utf-8").replace(
                "title: Fergetakster", "title: Ferjepriser", 1
            ),
            encoding="utf-8",
        )
        note = await fake.next_message(ADMIN_ID, timeout=10)
        assert text_of(note).startswith(messages.RELOAD_AUTO)
        assert "«Ferjepriser»" in text_of(note)
        assert services.kb.topic("fergetakster").title == "Ferjepriser"  # type: ignore[union-attr]

        # a broken edit: the admins hear of it, the old knowledge stays
        yaml_file.write_text("topics: [", encoding="utf-8")
        note = await fake.next_message(ADMIN_ID, timeout=10)
        assert text_of(note).startswith(messages.RELOAD_AUTO_FAILED)
        assert services.kb.topic("fergetakster").title == "Ferjepriser"  # type: ignore[union-attr]
        assert_answer(await kari(fake).say(FERRY_QUESTION), services.kb, "fergetakster")


# --------------------------------------------------------------------------------------------
# /statistikk
# --------------------------------------------------------------------------------------------


async def test_statistikk_text_chart_and_csv(bot: Bot) -> None:
    fake, _, services = bot
    anne = admin(fake)
    # three voters: two agree on ferries, one disagrees; one question the bot cannot answer
    for uid, agree in ((2001, True), (2002, True), (2003, False)):
        v = voter(fake, uid, f"V{uid}")
        ferry = await v.say(FERRY_QUESTION)
        await v.press(ferry, "Enig" if agree else "Uenig")
    await voter(fake, 2004, "Per").say("Hva med ulven?")
    await services.dialogue.drain()

    anne.send("/statistikk")
    stats = await fake.next_message(ADMIN_ID, timeout=20)  # the first chart loads matplotlib
    photo = await fake.next_message(ADMIN_ID, timeout=20)
    text = text_of(stats)
    for topic in services.kb.topics:
        assert topic.title in text
    ferry_line = next(line for line in text.splitlines() if "Fergetakster" in line)
    assert "vist 3 (0)" in ferry_line and "Enig 2" in ferry_line and "Uenig 1" in ferry_line
    assert "67 % enig" in ferry_line
    assert "Spørsmål: 4 (0)" in text and "Besvart: 75 %" in text and "Avvist: 25 %" in text
    assert photo.method == "sendPhoto"
    call = next(c for c in fake.calls_to("sendPhoto") if c.ok)
    png = call.params["photo"].data
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert str(call.params["caption"]).startswith("Enig og uenig per emne, ")  # says what it is

    await anne.say("/statistikk csv")
    document = await fake.next_message(ADMIN_ID)
    assert document.method == "sendDocument"
    upload = next(c for c in fake.calls_to("sendDocument") if c.ok).params["document"]
    assert upload.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(upload.data.decode("utf-8"))))
    assert [r["emne_id"] for r in rows] == list(services.kb.topic_ids)
    ferry = next(r for r in rows if r["emne_id"] == "fergetakster")
    assert (ferry["enig"], ferry["uenig"], ferry["vist"]) == ("2", "1", "3")
    # nothing personal in the file
    assert str(2001) not in upload.data.decode() and "V2001" not in upload.data.decode()

    # /statistikk 30 and a bad argument
    assert "Statistikk" in text_of(await anne.say("/statistikk 30"))
    await fake.next_message(ADMIN_ID)  # its chart
    usage = text_of(await anne.say("/statistikk i fjor"))
    assert usage.startswith("Skriv /statistikk")
    wrong = text_of(await anne.say("/statistikk 2026-13-01"))  # what is wrong, then how
    assert (
        wrong.startswith("«2026-13-01» er ikke en dato som finnes") and "Skriv /statistikk" in wrong
    )

    # a voter gets nothing of it
    assert text_of(await kari(fake).say("/statistikk csv")) == messages.UNKNOWN_COMMAND
    await fake.assert_no_message(VOTER_ID, within=0.3)


# --------------------------------------------------------------------------------------------
# /ubesvarte
# --------------------------------------------------------------------------------------------


async def test_ubesvarte_learns_an_example_into_the_yaml_keeping_every_comment(
    bot: Bot, yaml_file: Path
) -> None:
    fake, _, services = bot
    anne, k = admin(fake), kari(fake)
    before = yaml_file.read_text(encoding="utf-8")
    assert text_of(await k.say(LEARNABLE)) == messages.DONT_KNOW
    assert text_of(await voter(fake, 1002, "Ola").say("blir det flere jobber på sokkelen")) == (
        messages.DONT_KNOW
    )
    assert text_of(await voter(fake, 1003, "Per").say("Hva med ulven?")) == messages.DONT_KNOW

    inbox = await anne.say("/ubesvarte")
    text = text_of(inbox)
    first, second = (line for line in text.splitlines() if line[:2] in ("1.", "2."))
    assert "sokkelen" in first and "2 ganger" in first  # near-duplicates grouped, most first
    assert "ulven" in second
    title = services.kb.topic(LEARNABLE_TOPIC).title  # type: ignore[union-attr]
    labels = [label for label, _ in inbox.buttons()]
    assert title in labels  # the matcher's best guess, labelled with the topic's title
    for label in (messages.BUTTON_OTHER_TOPIC, messages.BUTTON_NOT_OURS, messages.BUTTON_IGNORE):
        assert label in labels
    assert all(len(d.encode()) <= 64 for _, d in inbox.buttons() if d)

    done = await anne.press(inbox, title)
    assert messages.INBOX_LANDS.format(title=title) in text_of(done)
    assert "Selvtest" in text_of(done)
    assert "ulven" in text_of(done)  # the next group follows

    after = yaml_file.read_text(encoding="utf-8")
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [f'+      - "{LEARNABLE}"']  # quoted like the examples before it
    for line in before.splitlines():
        if line.lstrip().startswith("#"):
            assert line in after.splitlines()

    # the same question is answered now, by voters and in the bot's own self-test
    assert_answer(await voter(fake, 1009, "Siv").say(LEARNABLE), services.kb, LEARNABLE_TOPIC)
    assert LEARNABLE in services.kb.topic(LEARNABLE_TOPIC).examples  # type: ignore[union-attr]
    # the handled group has left the inbox
    remaining = text_of(await anne.say("/ubesvarte"))
    assert "sokkelen" not in remaining and "ulven" in remaining


async def test_other_topic_picks_any_topic(bot: Bot, yaml_file: Path) -> None:
    fake, _, services = bot
    anne = admin(fake)
    await kari(fake).say("Hva med fiskerne og fiskeoppdrett?")
    inbox = await anne.say("/ubesvarte")
    pick = await anne.press(inbox, messages.BUTTON_OTHER_TOPIC)
    assert sorted(d.split(":")[2] for _, d in pick.buttons() if d and d.startswith("ul:")) == (
        sorted(services.kb.topic_ids)
    )
    title = services.kb.topic("naeringspolitikk").title  # type: ignore[union-attr]
    done = await anne.press(pick, title)
    assert f"på «{title}»" in text_of(done)
    assert "Hva med fiskerne og fiskeoppdrett?" in yaml_file.read_text(encoding="utf-8")
    assert text_of(done).endswith(messages.INBOX_EMPTY)


async def test_not_our_policy_makes_the_same_question_declined(bot: Bot, yaml_file: Path) -> None:
    fake, _, services = bot
    anne, k = admin(fake), kari(fake)
    question, _ = find_ambiguous_question(services.kb)
    first = await k.say(question)
    assert text_of(first) == messages.DID_YOU_MEAN  # answered with "Mente du …?": logged, marked

    inbox = await anne.say("/ubesvarte")
    assert messages.INBOX_AMBIGUOUS.strip() in text_of(inbox)
    done = await anne.press(inbox, messages.BUTTON_NOT_OURS)
    assert messages.INBOX_DECLINED_NOW in text_of(done)
    assert "out_of_scope:" in yaml_file.read_text(encoding="utf-8")

    assert text_of(await k.say(question)) == messages.DONT_KNOW
    assert text_of(await k.say(question.upper() + "?")) == messages.DONT_KNOW
    # and it does not come back to the inbox
    assert text_of(await anne.say("/ubesvarte")) == messages.INBOX_EMPTY


async def test_contact_details_never_reach_the_knowledge_files(bot: Bot, yaml_file: Path) -> None:
    """The knowledge files are kept for good and shared: a voter's phone number or e-mail in an
    unanswered question is left out when an admin files it."""
    fake, _, _ = bot
    anne = admin(fake)
    await kari(fake).say("Hva med ulven? Ring meg på 998 87 766 eller kari@example.no")
    inbox = await anne.say("/ubesvarte")
    done = text_of(await anne.press(inbox, messages.BUTTON_NOT_OURS))
    assert "«Hva med ulven? Ring meg på eller»" in done  # what was written, as written
    text = yaml_file.read_text(encoding="utf-8")
    assert "Hva med ulven? Ring meg på eller" in text
    assert "998" not in text and "kari@" not in text


async def test_ignorer_takes_the_group_out_of_the_inbox(bot: Bot, yaml_file: Path) -> None:
    fake, _, services = bot
    anne = admin(fake)
    before = yaml_file.read_bytes()
    await kari(fake).say("Hva med ulven?")
    inbox = await anne.say("/ubesvarte")
    done = await anne.press(inbox, messages.BUTTON_IGNORE)
    assert text_of(done).startswith(messages.INBOX_IGNORED.format(text="Hva med ulven?"))
    assert messages.INBOX_EMPTY in text_of(done)
    assert yaml_file.read_bytes() == before
    assert text_of(await anne.say("/ubesvarte")) == messages.INBOX_EMPTY
    # a stale button of a handled group
    again = await anne.press_data(inbox, inbox.button(messages.BUTTON_IGNORE))
    assert text_of(again) == messages.INBOX_GONE
    assert services.storage is not None
    gid = int(inbox.button(messages.BUTTON_IGNORE).split(":")[1], 36)
    assert await services.storage.unanswered.group_state(gid) is GroupState.IGNORED


async def test_a_write_that_would_break_the_knowledge_never_touches_the_file(
    bot: Bot, yaml_file: Path
) -> None:
    fake, _, services = bot
    anne = admin(fake)
    await kari(fake).say(LEARNABLE)
    inbox = await anne.say("/ubesvarte")
    # meanwhile someone saves a broken edit (not reloaded yet)
    broken = yaml_file.read_text(encoding="utf-8").replace(
        "    pledge:", "    keywrods: []\n    pledge:", 1
    )
    yaml_file.write_text(broken, encoding="utf-8")
    title = services.kb.topic(LEARNABLE_TOPIC).title  # type: ignore[union-attr]
    reply = await anne.press(inbox, title)
    assert text_of(reply).startswith(messages.WRITE_INVALID)
    assert "keywrods" in text_of(reply)
    assert yaml_file.read_text(encoding="utf-8") == broken
    assert [p.name for p in yaml_file.parent.iterdir()] == [yaml_file.name]  # no temp file left
    assert LEARNABLE in text_of(await anne.say("/ubesvarte"))  # still in the inbox


async def test_a_write_into_a_file_broken_by_hand_says_what_is_wrong_there(
    bot: Bot, yaml_file: Path
) -> None:
    """The YAML was broken by hand after the last reload: pressing a topic in /ubesvarte leaves
    the file as it is and says where it is broken and what to do, in Norwegian."""
    fake, _, services = bot
    anne = admin(fake)
    await kari(fake).say(LEARNABLE)
    inbox = await anne.say("/ubesvarte")
    broken = yaml_file.read_text(encoding="utf-8").replace(
        "    title: Fergetakster", "\ttitle: Fergetakster", 1
    )
    yaml_file.write_text(broken, encoding="utf-8")
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if t.startswith("\ttitle"))
    title = services.kb.topic(LEARNABLE_TOPIC).title  # type: ignore[union-attr]
    reply = text_of(await anne.press(inbox, title))
    assert reply.startswith(messages.WRITE_BROKEN.format(file=yaml_file.name)), reply
    assert f"• {yaml_file.name}, linje {line}: ikke gyldig YAML (kolonne 1)" in reply
    assert "Bytt tabulatoren ut med mellomrom" in reply
    assert not any(word in reply for word in PARSER_JARGON), reply
    assert yaml_file.read_text(encoding="utf-8") == broken
    assert LEARNABLE in text_of(await anne.say("/ubesvarte"))  # still in the inbox


# --------------------------------------------------------------------------------------------
# Errors reach the admins; retention
# --------------------------------------------------------------------------------------------


async def test_unhandled_errors_reach_the_admins_rate_limited_without_the_voters_text(
    fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = admin_config(fake, tmp_path, knowledge_dir, error_reports_per_hour=2)
    async with serving(cfg, load_knowledge(knowledge_dir)) as app:
        services: Services = app.bot_data[SERVICES]
        admin(fake)

        async def broken(person: Any, text: str) -> Any:
            raise RuntimeError(f"failed on {text}")

        monkeypatch.setattr(services.dialogue, "ask", broken)
        k = kari(fake)
        secret_words = ["mitt hemmelige spørsmål", "annet privat", "tredje"]
        for words in secret_words:
            assert text_of(await k.say(words)) == messages.SOMETHING_WENT_WRONG
        reports = [await fake.next_message(ADMIN_ID) for _ in range(2)]
        await fake.assert_no_message(ADMIN_ID, within=0.5)  # the third is held back
        for report in reports:
            text = text_of(report)
            assert "RuntimeError" in text and "message" in text
            assert not any(w in text for w in secret_words)
            assert fake.token not in text and cfg.privacy.hash_secret not in text


async def test_retention_job_deletes_old_unanswered_questions(
    fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path
) -> None:
    cfg = admin_config(fake, tmp_path, knowledge_dir, unanswered_days=30)
    async with serving(cfg, load_knowledge(knowledge_dir)) as app:
        services: Services = app.bot_data[SERVICES]
        storage = services.storage
        assert storage is not None
        k = kari(fake)
        await k.say("Hva med ulven?")
        await k.say("Hva med bjørnen?")
        # one of them was asked 31 days ago
        async with storage.db.unit_of_work("age a question") as conn:
            await conn.execute(
                update(UnansweredQuestionRow)
                .where(UnansweredQuestionRow.text == "Hva med ulven?")
                .values(created_at=datetime.now(UTC) - timedelta(days=31))
            )
        assert len(await storage.unanswered.most_asked()) == 2
        deleted = await services.delete_old_questions()
        assert deleted == 1
        assert [q.text for q in await storage.unanswered.most_asked()] == ["Hva med bjørnen?"]


async def test_retention_runs_as_a_job(
    fake: FakeTelegram, tmp_path: Path, knowledge_dir: Path
) -> None:
    cfg = admin_config(fake, tmp_path, knowledge_dir)
    async with serving(cfg, load_knowledge(knowledge_dir)) as app:
        jobs = app.job_queue
        assert jobs is not None
        names = {job.name for job in jobs.jobs()}
        assert "retention" in names
        services: Services = app.bot_data[SERVICES]
        storage = services.storage
        assert storage is not None
        await kari(fake).say("Hva med ulven?")
        async with storage.db.unit_of_work("age a question") as conn:
            await conn.execute(
                update(UnansweredQuestionRow).values(
                    created_at=datetime.now(UTC) - timedelta(days=40)
                )
            )
        # and a newsletter reported 31 days ago: its recipient rows (chat ids) go too
        await storage.subscribers.subscribe("k" * 64, 4242)
        letter = await storage.outbox.draft("brev")
        assert await storage.outbox.start(letter.id) is Started.STARTED
        claimed = await storage.outbox.claim(letter.id)
        assert claimed is not None
        await storage.outbox.finish(Finished(claimed, RowStatus.SENT))
        assert await storage.outbox.complete(letter.id)
        await storage.outbox.mark_reported(letter.id)
        async with storage.db.unit_of_work("age a newsletter") as conn:
            await conn.execute(
                update(BroadcastRow).values(finished_at=datetime.now(UTC) - timedelta(days=31))
            )
        job = next(j for j in jobs.jobs() if j.name == "retention")
        await job.run(app)
        assert await storage.unanswered.most_asked() == []
        assert (await storage.outbox.counts(letter.id)).total == 0


async def test_slettmeg_still_deletes_everything(bot: Bot) -> None:
    fake, _, _ = bot
    k = kari(fake)
    ferry = await k.say(FERRY_QUESTION)
    await k.press(ferry, "Enig")
    await k.say("Hva med ulven?")
    await admin(fake).say("/ubesvarte")  # the question is in a group now
    gone = text_of(await k.say("/slettmeg"))
    assert "1 svar" in gone and "1 spørsmål" in gone
    assert text_of(await admin(fake).say("/ubesvarte")) == messages.INBOX_EMPTY
