"""The command line, in process (`bot.cli.main`) and as a real process (`python -m bot`)."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import messages
from bot.cli import main
from tests.conftest import DEV_QUESTIONS, KNOWLEDGE_DIR, VALID_AREA, area_yaml, line_of

WriteKb = Callable[..., Path]
QUESTION = "Er du enig med Arbeiderpartiet om Distriktspolitikk?"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DISTRIKTSBOT_* from the caller; a database under tmp_path; run from tmp_path."""
    for name in list(os.environ):
        if name.startswith("DISTRIKTSBOT_"):
            monkeypatch.delenv(name)
    db = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("DISTRIKTSBOT_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    return db


def run_bot(
    *args: str, stdin: bytes = b"", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
    env["DISTRIKTSBOT_DATABASE_URL"] = os.environ["DISTRIKTSBOT_DATABASE_URL"]
    env.update(extra_env or {})
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=Path.cwd(),  # tmp_path (clean_environment): no ./config.yaml of the developer's
        input=stdin,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def feed_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- ask ------------------------------------------------------------------------------------


def test_ask_prints_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Blir", "ferja", "billigere?"]) == 0
    out = capsys.readouterr().out
    assert "FERGETAKSTER" in out
    assert "Halvere fergetakstene." in out
    assert "16. august 2023 er ferjeprisene halvert siden 1. januar 2021." in out
    assert QUESTION in out
    assert "[1] Enig   [2] Uenig" in out
    assert out.index("Halvere") < out.index(QUESTION) < out.index("[1] Enig")


def test_ask_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "Blir ferja billigere?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["question"] == "Blir ferja billigere?"
    assert out["topic"] == "fergetakster"
    assert out["kind"] == "topic"
    assert isinstance(out["score"], float) and out["score"] > 0
    assert QUESTION in out["text"]
    labels = {a["label"]: a["action"] for a in out["actions"]}
    assert labels["Enig"] == "ja:fergetakster"
    assert labels["Uenig"] == "nei:fergetakster"


def test_ask_something_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "Hva mener dere om abort?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["topic"] is None
    assert out["kind"] == "none"
    assert out["text"].startswith(messages.DONT_KNOW)


def test_ask_through_a_real_process() -> None:
    proc = run_bot("ask", "kor mykje kostar ferja")
    assert proc.returncode == 0, proc.stderr
    assert "Halvere fergetakstene." in proc.stdout
    assert "[1] Enig   [2] Uenig" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_ask_with_a_broken_knowledge_folder(
    capsys: pytest.CaptureFixture[str], write_kb: WriteKb
) -> None:
    folder = write_kb({"a.yaml": VALID_AREA.replace("keywords: [bredbånd]", "keywords: []")})
    assert main(["--knowledge", str(folder), "ask", "ferje"]) == 2
    err = capsys.readouterr().err
    assert "1 feil i kunnskapsfilene:" in err
    assert f"{folder / 'a.yaml'}, linje {line_of(VALID_AREA, 'keywords: [bredbånd]')}" in err
    assert "felt topics[1].keywords: listen er tom" in err


# --- match ----------------------------------------------------------------------------------


def test_match_keeps_fields_and_order_and_adds_the_match(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"id": 3, "text": "Blir ferja billigere?", "lang": "nb"},
        {"text": "Hva mener dere om abort?", "id": 1},
        {"meta": {"a": [1, 2]}, "text": "bredbånd og ferje"},
        {"text": "hei"},
    ]
    data = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    feed_stdin(monkeypatch, data.encode())
    assert main(["match"]) == 0
    captured = capsys.readouterr()
    out = jsonl(captured.out)
    assert len(out) == len(lines)
    for given, got in zip(lines, out, strict=True):
        assert list(got)[: len(given)] == list(given)  # the input's fields first, in order
        assert {k: got[k] for k in given} == given
        assert list(got)[len(given) :] == ["topic", "score", "alternatives", "ambiguous"]
    assert out[0]["topic"] == "fergetakster"
    assert out[1]["topic"] is None
    assert out[2]["topic"] in ("bredband", "fergetakster")
    assert out[2]["ambiguous"] is True and out[0]["ambiguous"] is False
    alternatives = out[2]["alternatives"]
    assert isinstance(alternatives, list) and alternatives
    assert {a["topic"] for a in alternatives} | {out[2]["topic"]} >= {"bredband", "fergetakster"}
    assert all(set(a) == {"topic", "score"} for a in alternatives)
    assert out[3]["topic"] is None
    assert captured.err == ""


def test_match_a_bad_line_is_named_and_the_output_stays_aligned(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = '{"text": "ferje", "n": 1}\n{not json\n\n["a list"]\n{"text": 5}\n{"text": "bredbånd"}\n'
    feed_stdin(monkeypatch, data.encode())
    main(["match"])
    captured = capsys.readouterr()
    out = jsonl(captured.out)
    # one line out per line in, the blank line 3 included
    assert [o.get("topic") for o in out] == ["fergetakster", None, None, None, None, "bredband"]
    assert out[0]["n"] == 1
    assert out[1]["line"] == 2 and "JSON" in str(out[1]["error"])
    assert out[2]["line"] == 3 and out[2]["error"] == "empty line"
    assert out[3]["line"] == 4 and out[3]["error"]
    assert out[4]["line"] == 5 and out[4]["error"]
    err_lines = captured.err.splitlines()
    assert [line.split(":")[0] for line in err_lines] == ["line 2", "line 3", "line 4", "line 5"]


def test_match_binary_garbage_does_not_traceback() -> None:
    garbage = (
        b'\xff\xfe\x00\x01garbage\n{"text": "ferje\xff"}\n\x80\x81\x82\n{"text": "landbruk"}\n'
    )
    proc = run_bot("match", stdin=garbage)
    assert "Traceback" not in proc.stderr
    out = jsonl(proc.stdout)
    assert len(out) == 4
    assert out[3]["topic"] == "landbruk"
    # undecodable bytes are an error naming the line, never a silently mangled question
    assert [o.get("line") for o in out[:3]] == [1, 2, 3]
    assert all("UTF-8" in str(o["error"]) and o["topic"] is None for o in out[:3])
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == [
        "line 1",
        "line 2",
        "line 3",
    ]


def test_match_empty_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, b"")
    assert main(["match"]) == 0
    assert capsys.readouterr().out == ""


# --- check ----------------------------------------------------------------------------------


def test_check_passes_on_the_shipped_knowledge(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "12 emner i 1 fil(er)" in out
    found = re.search(r"(\d+) av (\d+) eksempelspørsmål havner på sitt eget emne", out)
    assert found and found.group(1) == found.group(2) and int(found.group(1)) > 12


def test_check_through_a_real_process() -> None:
    proc = run_bot("check", str(KNOWLEDGE_DIR))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 emner" in proc.stdout


def test_check_lists_the_problems_of_a_broken_folder(
    capsys: pytest.CaptureFixture[str], write_kb: WriteKb
) -> None:
    text = VALID_AREA.replace("keywords: [bredbånd]", "keywrods: [bredbånd]").replace(
        "date: 2023-08-16", "date: august"
    )
    folder = write_kb({"a.yaml": text})
    code = main(["check", str(folder)])
    captured = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in captured.err
    err = captured.err
    assert "3 feil i kunnskapsfilene:" in err  # the typo, the key it lacks, the date
    assert f"{folder / 'a.yaml'}, linje {line_of(text, 'keywrods')}" in err
    assert "ukjent felt «keywrods». Mente du «keywords»?" in err
    assert f"linje {line_of(text, 'date: august')}, felt topics[0].facts[0].date:" in err
    assert "«august»" in err
    # one problem per line, readable
    assert "feltet «keywords» mangler" in err
    assert len([line for line in err.splitlines() if str(folder) in line]) == 3


def test_check_fails_when_an_example_lands_on_the_wrong_topic(
    capsys: pytest.CaptureFixture[str], write_kb: WriteKb
) -> None:
    text = VALID_AREA.replace('examples: ["Blir ferja billigere?"]', 'examples: ["bredbånd"]')
    folder = write_kb({"a.yaml": text})
    code = main(["check", str(folder)])
    out = capsys.readouterr().out
    assert code != 0
    assert "  forste: «bredbånd» havner på andre" in out
    assert "legg til nøkkelord" in out
    assert "0 av 1 eksempelspørsmål" in out


def test_check_of_two_areas(capsys: pytest.CaptureFixture[str], write_kb: WriteKb) -> None:
    second = area_yaml(
        "omrade2",
        """
        - id: tredje
          title: Tredje
          pledge: Et løfte om tog.
          explanation: En forklaring.
          keywords: [nattoget]
          examples: ["Kommer nattoget?"]
        """,
    )
    folder = write_kb({"a.yaml": VALID_AREA, "b.yaml": second})
    assert main(["check", str(folder)]) == 0
    assert "3 emner i 2 fil(er)" in capsys.readouterr().out


# --- eval -----------------------------------------------------------------------------------


def test_eval_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DEV_QUESTIONS)]) == 0
    out = capsys.readouterr().out
    for label in ("top-1", "top-3", "declined", "confidently wrong"):
        assert label in out
    assert re.search(r"in-scope top-1:\s+\d+\.\d%", out)


def test_eval_lists_the_misses(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"text": "Blir ferja billigere?", "topics": ["fergetakster"]}\n'
        '{"text": "Blir ferja billigere?", "topics": ["bredband"]}\n'
        '{"text": "Hva mener dere om abort?", "topics": []}\n'
        '{"text": "landbruk", "topics": []}\n',
        encoding="utf-8",
    )
    assert main(["eval", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "(1/2)" in out  # top-1
    assert "(1/2)" in out.split("out-of-scope declined:")[1]
    assert "misses (2)" in out
    assert "line 2" in out and "want bredband, got fergetakster" in out
    assert "line 4" in out and "got landbruk" in out


def test_eval_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--json", str(DEV_QUESTIONS)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["questions"] == figures["in_scope"] + figures["out_of_scope"]
    for key in ("in_scope_top1", "in_scope_top3", "out_of_scope_declined", "confidently_wrong"):
        assert 0.0 <= figures[key] <= 1.0


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ('{"text": "ferje", "topics": ["fergetakster"]}\n{oops\n', ":2: not valid JSON"),
        ('{"text": "ferje", "topics": ["ferje-takster"]}\n', ":1: unknown topic id"),
        ('{"tekst": "ferje"}\n', ':1: expected an object with a "text"'),
        ('{"text": "ferje", "topics": "fergetakster"}\n', ":1:"),
        ("", "no labelled questions"),
    ],
    ids=["missing-file", "bad-json", "unknown-topic", "no-text", "topics-not-a-list", "empty"],
)
def test_eval_user_errors_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "labelled.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1, captured.err
    assert str(path) in err_lines[0] or says == "no labelled questions"
    assert says in err_lines[0]


def test_eval_missing_file_through_a_real_process(tmp_path: Path) -> None:
    proc = run_bot("eval", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "nope.jsonl" in proc.stderr


# --- config and run -------------------------------------------------------------------------


def test_a_bad_config_file_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("telegram:\n  tokn: x\n", encoding="utf-8")
    assert main(["--config", str(config), "ask", "ferje"]) == 2
    err = capsys.readouterr().err
    assert "telegram.tokn" in err
    assert "Traceback" not in err


def test_run_without_a_token_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "telegram.token" in err
    assert "DISTRIKTSBOT_TOKEN" in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "chat" in capsys.readouterr().out


# --- chat -----------------------------------------------------------------------------------


def test_chat_answers_and_takes_a_vote(clean_environment: Path) -> None:
    proc = run_bot("chat", stdin=b"fergepriser\n1\n/slutt\n")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    answer = out.index("Halvere fergetakstene.")
    buttons = out.index("[1] Enig   [2] Uenig", answer)
    thanks = out.index("Takk for din tilbakemelding!", buttons)
    assert out.index("Vil du vite hva mer vi kanskje er enig om?", thanks)
    assert out.rstrip().endswith("Ha det bra!")
    # the vote went into the database under tmp_path, and nowhere near the raw user id
    con = sqlite3.connect(clean_environment)
    try:
        assert con.execute("SELECT topic_id, agree FROM votes").fetchall() == [("fergetakster", 1)]
    finally:
        con.close()


def test_chat_survives_undecodable_input() -> None:
    proc = run_bot("chat", stdin=b"abort\xff\xfe\nferje\n/slutt\n")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert messages.DONT_KNOW.split(".")[0] in proc.stdout
    assert "Halvere fergetakstene." in proc.stdout
    assert "Ha det bra!" in proc.stdout


# --- the edges of the input, as a real process -----------------------------------------------


def test_match_blank_lines_get_an_aligned_error_object() -> None:
    lines = [b'{"text": "ferje"}', b"", b"   ", b'{"text": "bredb\xc3\xa5nd"}', b"\t"]
    proc = run_bot("match", stdin=b"\n".join(lines) + b"\n")
    assert "Traceback" not in proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(lines)  # one line out per line in, always
    assert [o["topic"] for o in out] == ["fergetakster", None, None, "bredband", None]
    for no in (2, 3, 5):
        assert out[no - 1]["line"] == no and out[no - 1]["error"] == "empty line"
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == [
        "line 2",
        "line 3",
        "line 5",
    ]


def test_match_accepts_a_byte_order_mark() -> None:
    data = b'\xef\xbb\xbf{"text": "Blir ferja billigere?"}\r\n{"text": "landbruk"}\r\n'
    proc = run_bot("match", stdin=data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["topic"] for o in out] == ["fergetakster", "landbruk"]
    assert out[0]["text"] == "Blir ferja billigere?"  # the BOM is not part of the text


def test_match_invalid_utf8_is_an_error_naming_the_line_not_mangled_text() -> None:
    data = b'{"text": "ferje"}\n{"text": "bredb\xe5nd"}\n{"text": "landbruk"}\n'  # Latin-1 å
    proc = run_bot("match", stdin=data)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 3
    assert out[1] == {
        "line": 2,
        "error": out[1]["error"],
        "topic": None,
        "score": 0.0,
        "alternatives": [],
    }
    assert "UTF-8" in out[1]["error"]
    assert "\ufffd" not in proc.stdout  # nothing was silently replaced
    assert proc.stderr.startswith("line 2:") and "UTF-8" in proc.stderr
    assert [out[0]["topic"], out[2]["topic"]] == ["fergetakster", "landbruk"]


def test_eval_a_line_without_topics_is_an_error_naming_the_line(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"text": "Blir ferja billigere?", "topics": ["fergetakster"]}\n'
        '{"text": "Hva mener dere om abort?", "topics": []}\n'
        '{"text": "Kva med breibandet?"}\n',
        encoding="utf-8",
    )
    proc = run_bot("eval", str(labelled))
    assert proc.returncode == 2, proc.stdout
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no figures from a file that says nothing about line 3
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1
    assert f"{labelled}:3:" in err[0] and '"topics"' in err[0]


# --- --help ---------------------------------------------------------------------------------

SUBCOMMANDS = ("init", "chat", "ask", "match", "check", "eval", "run", "db")
# common Norwegian words; the help speaks English throughout (quoted commands aside)
NORWEGIAN = re.compile(r"\b(og|på|er|som|ikke|med|til|av|det|for å|spørsmål|svarer)\b", re.I)


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _english(text: str) -> bool:
    unquoted = re.sub(r"«[^»]*»|`[^`]*`|\"[^\"]*\"|'[^']*'", "", text)
    # the quit words of the chat are Norwegian by nature: they are named, not written in
    unquoted = re.sub(r"avslutt, ha det", "", unquoted)
    return NORWEGIAN.search(unquoted) is None


def test_help_lists_every_subcommand_with_a_one_line_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(capsys)
    assert _english(text), text
    listed = {}
    for line in text.splitlines():
        found = re.match(r"^    (\w+)\s{2,}(\S.*)$", line)
        if found:
            listed[found.group(1)] = found.group(2)
    assert set(SUBCOMMANDS) <= set(listed), text
    for name in SUBCOMMANDS:
        assert len(listed[name]) > 10, (name, listed[name])


@pytest.mark.parametrize("name", [*SUBCOMMANDS, "db upgrade"])
def test_each_subcommand_help_opens_with_its_description(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text = _help(capsys, *name.split())
    assert _english(text), text
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith("usage: distriktsbot")
    assert len(paragraphs[1].strip()) > 10 and not paragraphs[1].startswith(
        ("positional", "options")
    ), text


def test_chat_help_says_how_to_quit(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help(capsys, "chat").split())
    assert "quit" in text.lower()
    for word in ("avslutt", "ha det", "exit", "quit", "Ctrl+D"):
        assert word in text


def test_check_warns_when_an_example_is_also_not_our_policy(
    capsys: pytest.CaptureFixture[str], write_kb: WriteKb
) -> None:
    text = VALID_AREA + 'out_of_scope:\n  examples: ["Blir ferja billigere!"]\n'
    folder = write_kb({"a.yaml": text})
    main(["check", str(folder)])  # a warning, not an error (the self-test decides the status)
    out = capsys.readouterr().out
    assert (
        "advarsel: forste: «Blir ferja billigere?» står både som eksempel på emnet og under "
        "out_of_scope.examples" in out
    )


def test_check_warns_when_a_keyword_is_also_out_of_scope(
    capsys: pytest.CaptureFixture[str], write_kb: WriteKb
) -> None:
    text = VALID_AREA + "out_of_scope:\n  subjects: [bompenger]\n  practical: [Ferge]\n"
    folder = write_kb({"a.yaml": text})
    assert main(["check", str(folder)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    assert (
        "advarsel: forste: nøkkelordet «ferge» står også under out_of_scope.practical som «Ferge»"
        in out
    )
    assert "fjern det ene" in out
    assert "bompenger" not in out
