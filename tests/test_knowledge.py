"""Loading and validating the knowledge base: every problem names the file, the line and the
field; loading is all or nothing; the shipped knowledge holds exactly the contract topics."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import messages
from bot.knowledge import KnowledgeBase, KnowledgeError, Problem, load_knowledge
from bot.matcher import Matcher, keyword_collisions
from tests.conftest import (
    CONTRACT_IDS,
    KNOWLEDGE_DIR,
    ROOT,
    SHIPPED_YAML,
    VALID_AREA,
    area_yaml,
    copy_knowledge,
    line_of,
)

WriteKb = Callable[..., Path]


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(path)
    assert info.value.problems, "KnowledgeError without problems"
    # the exception text lists every problem
    for p in info.value.problems:
        assert str(p) in str(info.value)
    return info.value.problems


def only(problems: list[Problem], word: str) -> Problem:
    found = [p for p in problems if word in str(p)]
    assert len(found) == 1, (
        f"expected one problem about {word!r}, got: {[str(p) for p in problems]}"
    )
    return found[0]


def assert_names(p: Problem, file: Path, line: int, field: str) -> None:
    """The problem names the file, the line and the field, as data and in its text."""
    assert p.file == str(file), str(p)
    assert p.line == line, str(p)
    assert field in p.field or field in p.message, str(p)
    assert f"{file}, linje {line}" in str(p)
    assert field in str(p)


# --- the shipped knowledge ------------------------------------------------------------------


def test_shipped_knowledge_has_exactly_the_contract_ids(kb: KnowledgeBase) -> None:
    assert len(kb.topic_ids) == len(set(kb.topic_ids)) == 12
    assert set(kb.topic_ids) == set(CONTRACT_IDS)
    for topic_id in CONTRACT_IDS:
        topic = kb.topic(topic_id)
        assert topic is not None and topic.id == topic_id
    assert kb.topic("finnes-ikke") is None


def test_shipped_knowledge_is_complete(kb: KnowledgeBase) -> None:
    assert [Path(f).name for f in kb.files] == ["distriktspolitikk.yaml"]
    assert [a.id for a in kb.areas] == ["distriktspolitikk"]
    for topic in kb.topics:
        assert topic.title and topic.pledge, topic.id
        assert topic.keywords, topic.id
        assert topic.examples, f"{topic.id}: no example questions for the self-test"
        assert kb.area_of(topic).id == "distriktspolitikk"
        assert topic.id not in topic.related
        for rel in topic.related:
            assert kb.topic(rel) is not None, f"{topic.id}: related {rel}"


def test_shipped_knowledge_loads_from_the_single_file_too() -> None:
    kb = load_knowledge(SHIPPED_YAML)
    assert set(kb.topic_ids) == set(CONTRACT_IDS)


def test_the_valid_template_loads(write_kb: WriteKb) -> None:
    """The base of the broken variants below is itself valid, so each failure is the one made."""
    kb = load_knowledge(write_kb({"a.yaml": VALID_AREA}))
    assert kb.topic_ids == ("forste", "andre")
    forste = kb.topic("forste")
    assert forste is not None
    assert forste.related == ("andre",)
    assert forste.keywords == ("ferje", "ferge")
    assert [(f.text, f.date) for f in forste.facts] == [("Et faktum.", "2023-08-16")]


def test_a_year_as_a_bare_number_is_a_valid_fact_date(write_kb: WriteKb) -> None:
    folder = write_kb({"a.yaml": VALID_AREA.replace("date: 2023-08-16", "date: 2022")})
    forste = load_knowledge(folder).topic("forste")
    assert forste is not None and forste.facts[0].date == "2022"


# --- one problem at a time ------------------------------------------------------------------


def test_missing_pledge(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("    pledge: Et løfte om ferjer.\n", "")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "pledge")
    assert_names(p, folder / "a.yaml", line_of(text, "- id: forste"), "pledge")
    assert "topics[0]" in p.field
    assert "«pledge» mangler" in p.message and "Legg det til" in p.message


def test_duplicate_topic_id_in_one_file_names_both_places(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("id: andre", "id: forste").replace("related: [andre]", "related: []")
    folder = write_kb({"a.yaml": text})
    file = folder / "a.yaml"
    p = only(problems_of(folder), "allerede brukt")
    assert_names(p, file, line_of(text, "- id: forste", 2), "id")
    assert "«forste»" in p.message and "annen id" in p.message
    assert f"{file}, linje {line_of(text, '- id: forste', 1)}" in p.message


def test_duplicate_topic_id_across_files_names_both_files(write_kb: WriteKb) -> None:
    second = area_yaml(
        "omrade2",
        """
        - id: andre
          title: Andre igjen
          pledge: Et løfte.
          explanation: En forklaring.
          keywords: [fiber]
        """,
    )
    folder = write_kb({"a.yaml": VALID_AREA, "b.yaml": second})
    p = only(problems_of(folder), "allerede brukt")
    assert_names(p, folder / "b.yaml", line_of(second, "- id: andre"), "id")
    assert f"{folder / 'a.yaml'}, linje {line_of(VALID_AREA, '- id: andre')}" in p.message


def test_duplicate_area_id_across_files_names_both_files_and_the_line(write_kb: WriteKb) -> None:
    second = area_yaml(
        "omrade",
        """
        - id: tredje
          title: Tredje
          pledge: Et løfte.
          explanation: En forklaring.
          keywords: [fiber]
        """,
    )
    folder = write_kb({"a.yaml": VALID_AREA, "b.yaml": second})
    p = only(problems_of(folder), "«omrade»")
    assert str(folder / "a.yaml") in str(p)
    assert_names(p, folder / "b.yaml", line_of(second, "id: omrade"), "area.id")


def test_unknown_related_id_suggests_a_near_miss(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("related: [andre]", "related: [andree, zzzzzz]")
    folder = write_kb({"a.yaml": text})
    problems = problems_of(folder)
    near = only(problems, "andree")
    assert near.file == str(folder / "a.yaml")
    assert "related" in near.field
    assert "finnes ikke" in near.message and "Mente du «andre»?" in near.message
    far = only(problems, "zzzzzz")
    assert "finnes ikke" in far.message and "Mente du" not in far.message
    assert len(problems) == 2


def test_unknown_related_id_points_at_the_related_line(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("related: [andre]", "related: [andree]")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "andree")
    assert_names(p, folder / "a.yaml", line_of(text, "related: [andree]"), "related")


def test_empty_keywords(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("keywords: [ferje, ferge]", "keywords: []")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "keywords")
    assert_names(p, folder / "a.yaml", line_of(text, "keywords: []"), "topics[0].keywords")
    assert "tom" in p.message and "minst ett" in p.message


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ("keywords: [ferje, ferge]", "keywords: ferje", "topics[0].keywords", "en liste"),
        ("pledge: Et løfte om ferjer.", "pledge: 42", "topics[0].pledge", '"42"'),
        (
            "    facts:\n      - text: Et faktum.\n        date: 2023-08-16\n",
            "    facts: Et faktum.\n",
            "topics[0].facts",
            "en liste",
        ),
        ("date: 2023-08-16", "date: august", "topics[0].facts[0].date", "«august»"),
        ("title: Andre emne", "title: [Andre, emne]", "topics[1].title", "én tekst"),
        ("related: [andre]", "related: andre", "topics[0].related", "en liste"),
    ],
    ids=[
        "keywords-as-string",
        "pledge-as-number",
        "facts-not-a-list",
        "date-august",
        "title-as-list",
        "related-as-string",
    ],
)
def test_wrong_types(write_kb: WriteKb, old: str, new: str, field: str, says: str) -> None:
    assert old in VALID_AREA
    text = VALID_AREA.replace(old, new)
    folder = write_kb({"a.yaml": text})
    problems = problems_of(folder)
    p = only(problems, field)
    assert_names(p, folder / "a.yaml", line_of(text, new.strip().splitlines()[0]), field)
    assert says in p.message


def test_unknown_key_is_named_with_a_suggestion_and_its_line(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("keywords: [bredbånd]", "keywrods: [bredbånd]")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "keywrods")
    assert_names(p, folder / "a.yaml", line_of(text, "keywrods"), "keywrods")
    assert "ukjent felt «keywrods»" in p.message and "Mente du «keywords»?" in p.message


def test_unknown_key_in_the_area(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("  question: Er du enig?", "  qestion: Er du enig?")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "qestion")
    assert_names(p, folder / "a.yaml", line_of(text, "qestion"), "area.qestion")
    assert "ukjent felt «qestion»" in p.message and "Mente du «question»?" in p.message


def test_an_invalid_topic_is_not_also_reported_as_an_unknown_related_id(
    write_kb: WriteKb,
) -> None:
    """'andre' is defined (with a typo inside): telling the admin it is an unknown topic id
    sends them looking for a problem that is not there."""
    text = VALID_AREA.replace("keywords: [bredbånd]", "keywrods: [bredbånd]")
    folder = write_kb({"a.yaml": text})
    problems = problems_of(folder)
    assert not [p for p in problems if "related" in p.field], [str(p) for p in problems]


def test_a_missing_area_field_is_reported_once(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("  question: Er du enig?\n", "")
    folder = write_kb({"a.yaml": text})
    problems = problems_of(folder)
    assert len(problems) == 1, [str(p) for p in problems]
    assert_names(problems[0], folder / "a.yaml", line_of(text, "area:"), "question")


def test_duplicate_mapping_key(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace(
        "    pledge: Et løfte om nett.\n",
        "    pledge: Et løfte om nett.\n    pledge: Et annet løfte.\n",
    )
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "to ganger")
    assert_names(p, folder / "a.yaml", line_of(text, "pledge: Et annet løfte."), "pledge")


def test_invalid_yaml_syntax_names_the_line(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("  - id: andre", "  - id: [andre")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "YAML")
    assert p.file == str(folder / "a.yaml")
    assert p.line is not None
    assert line_of(text, "id: [andre") <= p.line <= line_of(text, "id: [andre") + 1
    assert f"{folder / 'a.yaml'}, linje {p.line}" in str(p)


def test_tab_indentation_is_a_yaml_error_with_a_line(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("    title: Andre emne", "\ttitle: Andre emne")
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), "YAML")
    assert p.line == line_of(text, "\ttitle")


def test_non_utf8_file(write_kb: WriteKb) -> None:
    folder = write_kb({"a.yaml": VALID_AREA.encode("latin-1")})
    p = only(problems_of(folder), "UTF-8")
    assert p.file == str(folder / "a.yaml")


def test_empty_file(write_kb: WriteKb) -> None:
    folder = write_kb({"a.yaml": ""})
    problems = problems_of(folder)
    assert all(p.file == str(folder / "a.yaml") for p in problems)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("not yaml")
    p = only(problems_of(tmp_path / "empty"), "yaml")
    assert p.file == str(tmp_path / "empty")


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    p = only(problems_of(missing), "finnes ikke")
    assert p.file == str(missing)


def test_topic_id_must_be_a_slug_short_enough_for_buttons(write_kb: WriteKb) -> None:
    long_id = "a" * 41
    text = (
        VALID_AREA.replace("id: forste", "id: Første Emne")
        .replace("id: andre", f"id: {long_id}")
        .replace("related: [andre]", "related: []")
    )
    folder = write_kb({"a.yaml": text})
    problems = problems_of(folder)
    bad = only(problems, "Første Emne")
    assert_names(bad, folder / "a.yaml", line_of(text, "id: Første Emne"), "topics[0].id")
    too_long = only(problems, "40")
    assert_names(too_long, folder / "a.yaml", line_of(text, f"id: {long_id}"), "topics[1].id")


# --- all or nothing, several at once --------------------------------------------------------


def test_one_broken_file_fails_the_whole_folder(write_kb: WriteKb) -> None:
    broken = area_yaml(
        "omrade2",
        """
        - id: tredje
          title: Tredje
          explanation: En forklaring.
          keywords: [fiber]
        """,
    )
    folder = write_kb({"a.yaml": VALID_AREA, "b.yaml": broken})
    problems = problems_of(folder)
    assert {p.file for p in problems} == {str(folder / "b.yaml")}


def test_several_problems_are_reported_together(write_kb: WriteKb) -> None:
    text = (
        VALID_AREA.replace("date: 2023-08-16", "date: august")
        .replace("keywords: [bredbånd]", "keywrods: [bredbånd]")
        .replace("  question: Er du enig?\n", "")
    )
    second = area_yaml(
        "omrade2",
        """
        - id: tredje
          title: Tredje
          pledge: 7
          explanation: En forklaring.
          keywords: []
        """,
    )
    folder = write_kb({"a.yaml": text, "b.yaml": second})
    problems = problems_of(folder)
    a, b = str(folder / "a.yaml"), str(folder / "b.yaml")
    assert only(problems, "august").file == a
    assert only(problems, "keywrods").file == a
    assert only(problems, "«question»").file == a
    assert only(problems, "topics[0].pledge").file == b
    assert only(problems, "topics[0].keywords: listen er tom").file == b
    assert all(p.line is not None for p in problems), [str(p) for p in problems]


# --- more than one area ---------------------------------------------------------------------


def test_a_second_area_file_is_loaded_too(write_kb: WriteKb, tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    copy_knowledge(folder)
    extra = area_yaml(
        "samferdsel",
        """
        - id: togtilbud
          title: Tog i distriktene
          pledge: Et løfte om tog.
          explanation: En forklaring om tog.
          related: [fergetakster]
          keywords: [nattoget, togavganger]
          examples: ["Kommer nattoget tilbake?"]
        """,
    )
    (folder / "samferdsel.yaml").write_text(extra, encoding="utf-8")
    kb = load_knowledge(folder)
    assert set(kb.topic_ids) == {*CONTRACT_IDS, "togtilbud"}
    assert {a.id for a in kb.areas} == {"distriktspolitikk", "samferdsel"}
    tog = kb.topic("togtilbud")
    assert tog is not None
    assert kb.area_of(tog).id == "samferdsel"
    assert kb.area_of(tog).question == "Er du enig?"
    ferje = kb.topic("fergetakster")
    assert ferje is not None and kb.area_of(ferje).id == "distriktspolitikk"
    assert Matcher(kb).match("kommer nattoget tilbake").topic_id == "togtilbud"
    assert len(kb.files) == 2


# --- out_of_scope and the optional explanation ------------------------------------------------

OUT_OF_SCOPE = """\
out_of_scope:
  examples:
    - Når går ferja i morgen?
  subjects: [bompenger, strømpris]
  practical:
    - rutetabell
    - hvordan … jeg
"""


def test_out_of_scope_lists_are_loaded_per_area_and_together(write_kb: WriteKb) -> None:
    second = (
        area_yaml(
            "omrade2",
            """
        - id: tredje
          title: Tredje
          pledge: Et løfte om tog.
          keywords: [nattoget]
        """,
        )
        + "out_of_scope:\n  examples: [Hvem vinner valget]\n"
    )
    kb = load_knowledge(write_kb({"a.yaml": VALID_AREA + OUT_OF_SCOPE, "b.yaml": second}))
    first, other = kb.areas
    assert first.out_of_scope.examples == ("Når går ferja i morgen?",)
    assert first.out_of_scope.subjects == ("bompenger", "strømpris")
    assert first.out_of_scope.practical == ("rutetabell", "hvordan … jeg")
    assert other.out_of_scope.examples == ("Hvem vinner valget",)
    assert other.out_of_scope.subjects == ()
    assert kb.out_of_scope.examples == ("Når går ferja i morgen?", "Hvem vinner valget")


def test_out_of_scope_may_be_absent_or_empty(write_kb: WriteKb) -> None:
    for extra in ("", "out_of_scope:\n", "out_of_scope:\n  examples:\n"):
        kb = load_knowledge(write_kb({"a.yaml": VALID_AREA + extra}))
        assert kb.out_of_scope.examples == () and kb.out_of_scope.practical == ()


@pytest.mark.parametrize(
    ("extra", "field", "says", "needle"),
    [
        ("out_of_scope:\n  exemples: [Hei]\n", "out_of_scope.exemples", "Mente du «examples»?",
         "exemples"),
        ("out_of_scope:\n  examples:\n    - [a, list]\n", "out_of_scope.examples[0]", "én tekst",
         "- [a, list]"),
        ("out_of_scope:\n  subjects: bompenger\n", "out_of_scope.subjects", "en liste",
         "subjects: bompenger"),
        ("out_of_scope: [bompenger]\n", "out_of_scope", "blokk med felt",
         "out_of_scope: [bompenger]"),
        ("out_of_scope:\n  practical:\n    - 42\n", "out_of_scope.practical[0]", '"42"', "- 42"),
    ],
)  # fmt: skip
def test_out_of_scope_problems_name_the_file_line_and_field(
    write_kb: WriteKb, extra: str, field: str, says: str, needle: str
) -> None:
    text = VALID_AREA + extra
    folder = write_kb({"a.yaml": text})
    p = only(problems_of(folder), field)
    assert_names(p, folder / "a.yaml", line_of(text, needle), field)
    assert says in p.message


def test_explanation_is_optional(write_kb: WriteKb) -> None:
    text = VALID_AREA.replace("    explanation: En forklaring om nett.\n", "")
    kb = load_knowledge(write_kb({"a.yaml": text}))
    andre = kb.topic("andre")
    assert andre is not None and andre.explanation is None
    forste = kb.topic("forste")
    assert forste is not None and forste.explanation == "En forklaring om ferjer."
    text = VALID_AREA.replace("explanation: En forklaring om nett.", "explanation: [nett]")
    p = only(problems_of(write_kb({"a.yaml": text})), "explanation")
    assert "én tekst" in p.message


def test_a_keyword_that_is_also_out_of_scope_is_reported(write_kb: WriteKb) -> None:
    text = VALID_AREA + "out_of_scope:\n  subjects: [Ferjer, bompenger]\n  practical: [bredbånd]\n"
    kb = load_knowledge(write_kb({"a.yaml": text}))
    collisions = keyword_collisions(kb)
    assert len(collisions) == 2, collisions
    assert any(
        c.startswith("forste: nøkkelordet «ferje»") and "out_of_scope.subjects som «Ferjer»" in c
        for c in collisions
    ), collisions
    assert any(
        c.startswith("andre: nøkkelordet «bredbånd»")
        and "out_of_scope.practical som «bredbånd»" in c
        for c in collisions
    ), collisions
    assert all("fjern det ene" in c for c in collisions), collisions


def test_the_shipped_knowledge_has_no_collisions_and_declines_something(kb: KnowledgeBase) -> None:
    assert keyword_collisions(kb) == []
    oos = kb.out_of_scope
    assert len(oos.examples) >= 20 and len(oos.subjects) >= 100 and len(oos.practical) >= 40


# --- faithful to the party's text (area.source_text) ----------------------------------------


def test_a_pledge_that_is_not_in_the_party_text_is_refused(tmp_path: Path) -> None:
    """`check` and `/oppdater` load through here: an invented pledge never reaches a voter."""
    yaml_file = copy_knowledge(tmp_path / "knowledge")
    shipped = yaml_file.read_text(encoding="utf-8")
    invented = "Gratis ferje for alle innen 2027."
    yaml_file.write_text(
        shipped.replace("pledge: Halvere fergetakstene.", f"pledge: {invented}", 1),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(yaml_file.parent)
    (problem,) = info.value.problems
    assert problem.message == messages.NOT_IN_SOURCE.format(
        sentence=invented, source="distriktspolitikk.txt"
    )
    assert problem.line == line_of(yaml_file.read_text(encoding="utf-8"), invented)
    assert problem.field.endswith(".pledge")


def test_the_source_corrections_are_the_only_liberty(tmp_path: Path) -> None:
    yaml_file = copy_knowledge(tmp_path / "knowledge")
    shipped = yaml_file.read_text(encoding="utf-8")
    load_knowledge(yaml_file.parent)  # as shipped: every sentence stands in the corrected text
    without = shipped.replace("    brebånd: bredbånd\n", "", 1)
    yaml_file.write_text(without, encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(yaml_file.parent)
    assert info.value.problems and all(
        "bredbånd" in p.message and "står ikke ordrett" in p.message for p in info.value.problems
    )


def test_a_missing_party_text_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(SHIPPED_YAML, folder)  # without the text beside it
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(folder)
    (problem,) = info.value.problems
    assert problem.field == "area.source_text"
    assert problem.message == messages.SOURCE_TEXT_MISSING.format(
        path="../docs/source/distriktspolitikk.txt"
    )


def _node_tree(node: object) -> object:
    """A YAML node tree as plain data: kind, tag, value and where it starts and ends."""
    import yaml

    if not isinstance(node, yaml.Node):
        return node
    value = node.value
    if isinstance(node, yaml.MappingNode):
        value = [(_node_tree(k), _node_tree(v)) for k, v in value]
    elif isinstance(node, yaml.SequenceNode):
        value = [_node_tree(v) for v in value]
    marks = [(m.line, m.column, m.index) for m in (node.start_mark, node.end_mark)]
    return type(node).__name__, node.tag, value, marks


@pytest.mark.parametrize(
    "path",
    [*sorted(KNOWLEDGE_DIR.glob("*.yaml")), *sorted((ROOT / "tests/data/areas").glob("*.yaml"))],
)
def test_libyaml_and_the_pure_python_parser_read_a_file_alike(path: Path) -> None:
    """The knowledge is parsed once, with libyaml where installed: the same data and the same
    line numbers (for the admins' messages) as the pure-Python parser."""
    from bot.knowledge import _parse

    text = path.read_text(encoding="utf-8")
    fast_root, fast_data = _parse(text)
    slow_root, slow_data = _parse(text, None)
    assert fast_data == slow_data
    assert _node_tree(fast_root) == _node_tree(slow_root)
