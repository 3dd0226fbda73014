"""Knowledge errors an admin who is not a programmer can act on, in plain Norwegian: YAML parser
jargon turned into what to do, on the right line and column; invalid ids explained with the valid
spelling; "mente du" never suggesting an invalid id; the config file's YAML errors in English for
the operator; the README and the loader agreeing on which files are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import messages
from bot.cli import main
from bot.config import ConfigError, load_config
from bot.knowledge import TOPIC_ID, KnowledgeError, knowledge_files, load_knowledge
from bot.yaml_errors import OPERATOR_ADVICE, Mistake, YamlProblem
from tests.conftest import ROOT, VALID_AREA, copy_knowledge, line_of

WriteKb = Callable[..., Path]
JARGON = (
    "mapping values",
    "cannot start any token",
    "<block end>",
    "scalar",
    "stream",
    "found character",
    "expected",
    "YAML reader",
)
"""PyYAML's words, which mean nothing to an admin."""
ENGLISH = ("not valid", "column", "line ", "quote", "indent", "put the", "write '", "did you mean")


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(folder)
    return [str(p) for p in info.value.problems]


def only_problem(folder: Path) -> str:
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    return problems[0]


def assert_plain_norwegian(text: str) -> None:
    assert not any(word in text for word in JARGON), text
    assert not any(word in text for word in ENGLISH), text


@pytest.mark.parametrize(
    ("broken", "needle", "says"),
    [
        # a colon and space inside an unquoted text
        (
            ("pledge: Et løfte om ferjer.", "pledge: Mål: halvere prisen på ferjer."),
            "pledge: Mål",
            "sett hele teksten i doble anførselstegn",
        ),
        # a tab where spaces belong
        (
            ("    title: Andre emne", "\ttitle: Andre emne"),
            "\ttitle: Andre",
            "Bytt tabulatoren ut med mellomrom",
        ),
        # a quote opened and never closed: the line where it opens, not the end of the file
        (
            ("explanation: En forklaring om ferjer.", 'explanation: "En forklaring om ferjer.'),
            'explanation: "En',
            "Sett det avsluttende anførselstegnet på slutten av denne teksten",
        ),
        # an item indented one space too far
        (("  - id: andre", "   - id: andre"), "   - id: andre", "innrykket stemmer ikke"),
        # a list in brackets with a colon in an item
        (
            ("keywords: [ferje, ferge]", "keywords: [ferje, ferge: billig]"),
            "ferge: billig",
            'sett hele teksten i doble anførselstegn: "ferge: billig"',  # valid YAML, wrong type
        ),
        # a list in brackets never closed
        (
            ("keywords: [ferje, ferge]", "keywords: [ferje, ferge"),
            "keywords: [ferje, ferge",
            "er ikke lukket med «]»",
        ),
        # a text starting with @
        (
            ("title: Første emne", "title: @Første emne"),
            "@Første",
            "kan ikke starte med «@» uten anførselstegn",
        ),
    ],
    ids=["colon", "tab", "open-quote", "indent", "flow-list-colon", "open-list", "at-sign"],
)
def test_yaml_mistakes_are_explained_on_their_line(
    write_kb: WriteKb, broken: tuple[str, str], needle: str, says: str
) -> None:
    text = VALID_AREA.replace(*broken, 1)
    assert text != VALID_AREA
    folder = write_kb({"omrade.yaml": text})
    problem = only_problem(folder)
    assert problem.startswith(f"{folder / 'omrade.yaml'}, linje {line_of(text, needle)}"), problem
    assert says.lower() in problem.lower(), problem
    assert_plain_norwegian(problem)


def test_the_column_is_where_the_mistake_is(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("title: Første emne", "title: @Første emne", 1)
    problem = only_problem(write_kb({"omrade.yaml": text}))
    line = text.splitlines()[line_of(text, "@Første") - 1]
    assert f"(kolonne {line.index('@') + 1})" in problem, problem


def test_a_text_with_a_colon_in_a_list_is_spelled_out_quoted(write_kb: WriteKb) -> None:
    """`- Hva med ferja: blir den billigere?` is valid YAML (a key and a value in a list): the
    checker finds it where a text belongs and writes the text as it must be spelled."""
    text = VALID_AREA.replace("keywords: [ferje, ferge]", "keywords:\n      - ferje: billig", 1)
    folder = write_kb({"omrade.yaml": text})
    problem = only_problem(folder)
    assert problem.startswith(
        f"{folder / 'omrade.yaml'}, linje {line_of(text, '- ferje: billig')}, "
        "felt topics[0].keywords[0]: "
    ), problem
    assert 'doble anførselstegn: "ferje: billig"' in problem, problem
    assert_plain_norwegian(problem)


def test_check_shows_the_translated_yaml_error(
    write_kb: WriteKb, capsys: pytest.CaptureFixture[str]
) -> None:
    text = VALID_AREA.replace("pledge: Et løfte om nett.", "pledge: Nett: til alle.")
    folder = write_kb({"omrade.yaml": text})
    assert main(["check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "1 feil i kunnskapsfilene:" in err
    assert f"omrade.yaml, linje {line_of(text, 'pledge: Nett')}: ikke gyldig YAML" in err
    assert "sett hele teksten i doble anførselstegn" in err
    assert "Traceback" not in err
    assert_plain_norwegian(err.removeprefix("distriktsbot: "))


def test_config_yaml_errors_stay_english_for_the_operator(tmp_path: Path) -> None:
    """The config file is the operator's: the same mistakes, worded in English (and never the
    parser's words, which could quote a secret)."""
    config = tmp_path / "config.yaml"
    config.write_text("telegram:\n  mode: [polling\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config, environ={})
    message = str(info.value)
    assert message.startswith(f"{config}:2: not valid YAML (column "), message
    assert "is not closed with ']'" in message, message
    assert not any(word in message for word in JARGON[:-2]), message
    assert "anførselstegn" not in message


def test_every_mistake_has_words_for_admins_and_operators() -> None:
    for mistake in Mistake:
        problem = YamlProblem(3, 5, mistake, char="@", runs_to=9)
        assert problem.message.startswith("ikke gyldig YAML (kolonne 5): "), mistake
        assert problem.operator_message.startswith("not valid YAML (column 5): "), mistake
    assert set(messages.YAML_ADVICE) == set(OPERATOR_ADVICE) == {m.value for m in Mistake}


@pytest.mark.parametrize(
    ("written", "valid"),
    [
        ("kommuneøkonomi", "kommuneokonomi"),
        ("Næringspolitikk", "naeringspolitikk"),
        ("Bo trygt hjemme", "bo-trygt-hjemme"),
        ("grønt_industriløft", "gront-industriloft"),
        ("Område", "omrade"),
    ],
)
def test_an_id_with_aeoa_is_explained_with_the_valid_spelling(
    write_kb: WriteKb, written: str, valid: str
) -> None:
    text = VALID_AREA.replace("id: forste", f"id: {written}").replace(
        "related: [andre]", "related: []"
    )
    folder = write_kb({"omrade.yaml": text})
    problem = only_problem(folder)
    where = f"{folder / 'omrade.yaml'}, linje {line_of(text, f'id: {written}')}, felt topics[0].id:"
    assert problem.startswith(where), problem
    assert f"Skriv «{valid}»." in problem
    assert "æøå" in problem  # says why
    assert TOPIC_ID.match(valid)
    assert_plain_norwegian(problem)


@pytest.mark.parametrize("related", ["kommuneokonomi", "kommuneokonom"])
def test_did_you_mean_never_suggests_an_invalid_id(write_kb: WriteKb, related: str) -> None:
    """The other topic is declared with æøå. A related id written the valid way is not an error
    of its own (the declaration is what to fix); a near miss is pointed at the valid spelling,
    never at the invalid id."""
    text = VALID_AREA.replace("id: andre", "id: kommuneøkonomi").replace(
        "related: [andre]", f"related: [{related}]"
    )
    folder = write_kb({"omrade.yaml": text})
    problems = problems_of(folder)
    assert any("Skriv «kommuneokonomi»." in p for p in problems), problems
    suggested = [m for p in problems for m in re.findall(r"Mente du «([^»]*)»", p)]
    assert all(TOPIC_ID.match(s) for s in suggested), problems
    if related == "kommuneokonomi":
        assert len(problems) == 1, problems  # only the declaration
    else:
        assert suggested == ["kommuneokonomi"], problems
    assert not any("«kommuneøkonomi»?" in p for p in problems), problems


def test_readme_and_loader_agree_on_which_files_are_read(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Kunnskapsbasen", 1)[1].split("\n## ", 1)[0]
    stated = set(re.findall(r"`\*(\.\w+)`", section.split("\n\n", 1)[0] + section))
    assert stated, "the README's knowledge section must say which files are read"
    names = ["a.yaml", "b.yml", "c.txt", "d.yaml.bak", "e.json", "f.YAML"]
    for name in names:
        (tmp_path / name).write_text("x", encoding="utf-8")
    read = {Path(p).name for p in knowledge_files(tmp_path)}
    assert read == {n for n in names if any(n.endswith(s) for s in stated)}


def test_the_readme_quotes_what_the_loader_says(tmp_path: Path) -> None:
    """The example messages in the README's knowledge section are the loader's own words (for the
    same slips in the shipped file; only the line numbers may differ, as the file changes)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Kunnskapsbasen", 1)[1].split("\n## ", 1)[0]
    quoted = section.split("```\n", 2)[1].strip().splitlines()
    shipped = (ROOT / "knowledge" / "distriktspolitikk.yaml").read_text(encoding="utf-8")
    slips = {
        "tabulatortegn": shipped.replace("    title: Fergetakster", "\ttitle: Fergetakster", 1),
        "kommuneøkonomi": shipped.replace("id: kommuneokonomi", "id: kommuneøkonomi", 1),
    }
    assert len(quoted) == len(slips), quoted
    for example in quoted:
        slip = next(key for key in slips if key in example)
        folder = tmp_path / slip / "knowledge"
        copy_knowledge(folder).write_text(slips[slip], encoding="utf-8")
        actual = only_problem(folder).replace(str(folder.parent) + "/", "")
        line = re.search(r"linje (\d+)", actual)
        assert line is not None, actual
        expected = re.sub(r"linje \d+", f"linje {line.group(1)}", example)
        at = 0
        for part in expected.split(" (…)"):
            found = actual.find(part.strip(), at)
            assert found >= 0, (part, actual)
            at = found + len(part.strip())
