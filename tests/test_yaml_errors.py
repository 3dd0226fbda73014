"""Knowledge errors an admin who is not a programmer can act on: YAML parser jargon translated
into what to do, on the right line; invalid ids explained with the valid spelling; "did you
mean" never suggesting an invalid id; the README and the loader agreeing on which files are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.knowledge import TOPIC_ID, KnowledgeError, knowledge_files, load_knowledge
from tests.conftest import ROOT, VALID_AREA, line_of

WriteKb = Callable[..., Path]
JARGON = ("mapping values", "cannot start any token", "<block end>", "scalar", "stream")


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(folder)
    return [str(p) for p in info.value.problems]


def only_problem(folder: Path) -> str:
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    return problems[0]


def advice_of(problem: str) -> str:
    """The part meant for the admin: without the parser's own words in parentheses."""
    return problem.split("(YAML reader:")[0]


@pytest.mark.parametrize(
    ("broken", "needle", "says"),
    [
        # a colon and space inside an unquoted text
        (
            ("pledge: Et løfte om ferjer.", "pledge: Mål: halvere prisen på ferjer."),
            "pledge: Mål",
            "double quotes",
        ),
        # a tab where spaces belong
        (("    title: Andre emne", "\ttitle: Andre emne"), "\ttitle: Andre", "spaces"),
        # a quote opened and never closed: the line where it opens, not the end of the file
        (
            ("explanation: En forklaring om ferjer.", 'explanation: "En forklaring om ferjer.'),
            'explanation: "En',
            "closing quote",
        ),
        # an item indented one space too far
        (("  - id: andre", "   - id: andre"), "   - id: andre", "indentation"),
        # a list in brackets with a colon in an item
        (
            ("keywords: [ferje, ferge]", "keywords: [ferje, ferge: billig]"),
            "ferge: billig",
            "double quotes",
        ),
        # a text starting with @
        (("title: Første emne", "title: @Første emne"), "@Første", "quotes"),
    ],
    ids=["colon", "tab", "open-quote", "indent", "flow-list", "at-sign"],
)
def test_yaml_mistakes_are_explained_on_their_line(
    write_kb: WriteKb, broken: tuple[str, str], needle: str, says: str
) -> None:
    text = VALID_AREA.replace(*broken, 1)
    assert text != VALID_AREA
    folder = write_kb({"omrade.yaml": text})
    problem = only_problem(folder)
    assert problem.startswith(f"{folder / 'omrade.yaml'}:{line_of(text, needle)}:"), problem
    advice = advice_of(problem)
    assert says in advice, problem
    assert not any(word in advice for word in JARGON), problem


def test_check_shows_the_translated_yaml_error(
    write_kb: WriteKb, capsys: pytest.CaptureFixture[str]
) -> None:
    text = VALID_AREA.replace("pledge: Et løfte om nett.", "pledge: Nett: til alle.")
    folder = write_kb({"omrade.yaml": text})
    assert main(["check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"omrade.yaml:{line_of(text, 'pledge: Nett')}:" in err
    assert "double quotes" in err
    assert "Traceback" not in err


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
    assert problem.startswith(f"{folder / 'omrade.yaml'}:{line_of(text, f'id: {written}')}:")
    assert f"write '{valid}'" in problem
    assert "æøå" in problem  # says why
    assert TOPIC_ID.match(valid)


def test_did_you_mean_never_suggests_an_invalid_id(write_kb: WriteKb) -> None:
    """The related id is the valid spelling of an id declared with æøå: the advice is to fix
    the declaration, never to write the invalid id in `related`."""
    text = VALID_AREA.replace("id: andre", "id: kommuneøkonomi").replace(
        "related: [andre]", "related: [kommuneokonomi]"
    )
    folder = write_kb({"omrade.yaml": text})
    problems = problems_of(folder)
    assert any("write 'kommuneokonomi'" in p for p in problems), problems
    suggested = [m for p in problems for m in re.findall(r"did you mean '([^']*)'", p)]
    assert all(TOPIC_ID.match(s) for s in suggested), problems
    assert not any("did you mean 'kommuneøkonomi'" in p for p in problems), problems


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
