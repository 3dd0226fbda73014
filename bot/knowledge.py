"""Loading and validating the knowledge base (one policy area per YAML file).

Loading is all or nothing: `load_knowledge` returns a complete, valid `KnowledgeBase` or raises
`KnowledgeError` listing every problem it found, each with the file, the line and the field.
The problems are for the admins who edit the files: each says, in Norwegian (the texts are in
`bot.messages`), what is wrong and what to do.
"""

from __future__ import annotations

import datetime as dt
import errno
import gc
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import process

from bot import faithfulness, messages
from bot.yaml_errors import ascii_id, explain_yaml_error, id_advice

TOPIC_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
MAX_FILE_BYTES = 2_000_000
MAX_ID_LENGTH = 40  # ids go into buttons' callback data and links
DATE_EXAMPLES = {"day": "2023-08-16", "month": "2023-08", "year": "2023"}


@dataclass(frozen=True)
class Fact:
    text: str
    date: str | None = None  # ISO date (or year / year-month) the figure is tied to


@dataclass(frozen=True)
class Replies:
    agree: str
    agree_more: str
    disagree: str
    disagree_more: str
    subscribed: str
    subscribed_more: str
    engage: str
    other_topics: str


@dataclass(frozen=True)
class OutOfScope:
    """What an area does not answer, for the matcher to decline (all lists optional).

    examples: whole questions that must be declined (the admins' "Ikke vår politikk" button
    appends to this list); subjects: words and phrases of subjects the area does not cover;
    practical: cues of practical-information questions (timetables, opening hours, customer
    service, which cable, a price at a named chain), which are not policy questions."""

    examples: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    practical: tuple[str, ...] = ()

    def __add__(self, other: OutOfScope) -> OutOfScope:
        return OutOfScope(
            self.examples + other.examples,
            self.subjects + other.subjects,
            self.practical + other.practical,
        )


@dataclass(frozen=True)
class Area:
    id: str
    title: str
    intro: str
    question: str
    replies: Replies
    source: str  # file it came from
    out_of_scope: OutOfScope = OutOfScope()


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    pledge: str
    explanation: str | None  # from the same passage of the source as the pledge, or none
    facts: tuple[Fact, ...]
    related: tuple[str, ...]
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    area_id: str
    broad_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnowledgeBase:
    areas: tuple[Area, ...]
    topics: tuple[Topic, ...]
    files: tuple[str, ...] = ()
    _by_id: dict[str, Topic] = field(default_factory=dict, compare=False, repr=False)
    _areas: dict[str, Area] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({t.id: t for t in self.topics})
        self._areas.update({a.id: a for a in self.areas})

    def topic(self, topic_id: str) -> Topic | None:
        return self._by_id.get(topic_id)

    def area_of(self, topic: Topic) -> Area:
        return self._areas[topic.area_id]

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    @property
    def out_of_scope(self) -> OutOfScope:
        """The out-of-scope lists of every area together."""
        merged = OutOfScope()
        for area in self.areas:
            merged = merged + area.out_of_scope
        return merged


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str  # for the admins, in Norwegian: what is wrong and what to do

    def text(self, file: str | None = None) -> str:
        """File, line, field and message in one line (`file` in place of the full path)."""
        file = self.file if file is None else file
        if self.line and self.field:
            template = messages.PROBLEM_AT
        elif self.line:
            template = messages.PROBLEM_AT_LINE
        elif self.field:
            template = messages.PROBLEM_AT_FIELD
        else:
            template = messages.PROBLEM_IN_FILE
        return template.format(file=file, line=self.line, field=self.field, message=self.message)

    def __str__(self) -> str:
        return self.text()


class KnowledgeError(Exception):
    """The knowledge files are invalid; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        head = messages.KNOWLEDGE_PROBLEMS.format(count=len(self.problems))
        super().__init__(f"{head}\n{lines}")


# --- the schema -----------------------------------------------------------------------------

_AREA_KEYS = {"id", "title", "intro", "question", "replies"}
_AREA_OPTIONAL = {"source_text", "source_corrections"}
_REPLY_KEYS = {f for f in Replies.__dataclass_fields__}
_TOPIC_REQUIRED = {"id", "title", "pledge", "keywords"}
_TOPIC_KEYS = _TOPIC_REQUIRED | {"explanation", "facts", "related", "examples", "broad_keywords"}
_FACT_KEYS = {"text", "date"}
_FILE_REQUIRED = {"area", "topics"}
_FILE_KEYS = _FILE_REQUIRED | {"out_of_scope"}
_OUT_OF_SCOPE_KEYS = {"examples", "subjects", "practical"}


class _Lines:
    """Line numbers of the YAML nodes, looked up by path ('topics', 3, 'keywords')."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def node(self, path: Sequence[str | int]) -> yaml.Node | None:
        node = self.root
        for part in path:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                node = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if 0 <= part < len(node.value) else None
            else:
                return node
            if node is None:
                return None
        return node

    def line(self, path: Sequence[str | int]) -> int | None:
        # walk up until a node is found: a missing key reports its parent's line
        for cut in range(len(path), -1, -1):
            node = self.node(path[:cut])
            if node is not None:
                return int(node.start_mark.line) + 1
        return None

    def key_line(self, path: Sequence[str | int], key: str) -> int | None:
        node = self.node(path)
        if isinstance(node, yaml.MappingNode):
            for k, _ in node.value:
                if k.value == key:
                    return int(k.start_mark.line) + 1
        return self.line(path)

    def duplicate_keys(self) -> Iterator[tuple[str, int]]:
        stack: list[yaml.Node] = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode):
                        if k.value in seen:
                            yield k.value, int(k.start_mark.line) + 1
                        seen.add(k.value)
                    stack.append(v)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)


def _path_str(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _suggest(key: str, allowed: set[str]) -> str:
    """The did-you-mean hint naming the nearest of `allowed`, or "" when none is near."""
    best = process.extractOne(key, sorted(allowed), score_cutoff=70)
    return messages.UNKNOWN_KEY_HINT.format(suggestion=best[0]) if best else ""


class _FileChecker:
    def __init__(self, name: str, lines: _Lines) -> None:
        self.name = name
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, path: Sequence[str | int], message: str, line: int | None = None) -> None:
        where = line if line is not None else self.lines.line(path)
        self.problems.append(Problem(self.name, where, _path_str(path), message))

    def mapping(
        self, value: Any, path: Sequence[str | int], allowed: set[str], required: set[str]
    ) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            found = _type_name(value)
            self.fail(path, messages.MUST_BE_MAPPING.format(found=found, allowed=_listed(allowed)))
            return None
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail(
                    [*path, str(key)],
                    messages.UNKNOWN_KEY.format(
                        key=key, hint=_suggest(str(key), allowed), allowed=_listed(allowed)
                    ),
                    self.lines.key_line(path, str(key)),
                )
        # a missing field is reported at the key of the mapping that lacks it ("area:")
        where = None
        if path and isinstance(path[-1], str):
            where = self.lines.key_line(path[:-1], path[-1])
        for key in sorted(required - set(value)):
            self.fail(path, messages.MISSING_FIELD.format(key=key), where)
        return value

    def text(self, value: Any, path: Sequence[str | int], *, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.fail(path, self._not_text(value, path))
            return None
        folded: str = " ".join(value.split())
        if not folded:
            self.fail(path, messages.TEXT_EMPTY)
            return None
        return folded

    def _not_text(self, value: Any, path: Sequence[str | int]) -> str:
        """What to do where a text belongs and `value` was read instead."""
        if value is None:
            return messages.TEXT_EMPTY
        if isinstance(value, dict):
            # a text with ': ' in it, read as "key: value": spell it out quoted
            if len(value) == 1:
                ((key, rest),) = value.items()
                if isinstance(key, str) and (rest is None or isinstance(rest, str)):
                    text = f"{key}: {rest}" if rest is not None else f"{key}:"
                    if not any(c in text for c in '"\\\n'):  # nothing to escape inside "…"
                        return messages.TEXT_WITH_COLON.format(text=text)
            return messages.TEXT_NOT_MAPPING
        if isinstance(value, list):
            return messages.TEXT_NOT_LIST
        # a number, yes/no or a date: as written in the file, quoted
        node = self.lines.node(path)
        written = node.value if isinstance(node, yaml.ScalarNode) else str(value)
        return messages.TEXT_NOT_PLAIN.format(written=written)

    def text_list(self, value: Any, path: Sequence[str | int], *, non_empty: bool) -> list[str]:
        if value is None:
            value = []
        if not isinstance(value, list):
            self.fail(path, messages.MUST_BE_LIST.format(found=_type_name(value)))
            return []
        out = []
        for i, item in enumerate(value):
            text = self.text(item, [*path, i])
            if text is not None:
                out.append(text)
        if non_empty and not value:
            self.fail(path, messages.LIST_EMPTY)
        return out


def _type_name(value: Any) -> str:
    """What the checker found where something else belongs, as the admins' messages name it."""
    if value is None:
        return messages.FOUND_NOTHING
    if isinstance(value, bool):
        return messages.FOUND_YES_NO.format(value=str(value).lower())
    if isinstance(value, (int, float)):
        return messages.FOUND_NUMBER.format(value=value)
    if isinstance(value, dt.date):
        return messages.FOUND_DATE.format(value=value)
    if isinstance(value, str):
        return messages.FOUND_TEXT
    if isinstance(value, list):
        return messages.FOUND_LIST
    if isinstance(value, dict):
        return messages.FOUND_MAPPING
    return messages.FOUND_OTHER.format(kind=type(value).__name__)


def _listed(keys: set[str]) -> str:
    return ", ".join(sorted(keys))


@dataclass
class _Placed:
    """A valid topic and where its parts stand in the file."""

    topic: Topic
    line: int | None
    related_lines: tuple[int | None, ...]


@dataclass
class _FileResult:
    area: Area | None = None
    area_line: int | None = None
    topics: list[_Placed] = field(default_factory=list)
    declared_ids: set[str] = field(default_factory=set)  # also of topics that have problems
    problems: list[Problem] = field(default_factory=list)


_FAST_LOADER: type[Any] | None = (
    getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
)


def _parse(text: str, loader: type[Any] | None = _FAST_LOADER) -> tuple[yaml.Node | None, Any]:
    """A YAML text's node tree (for line numbers) and its data, parsed once.

    With libyaml (`CSafeLoader`, about ten times faster than the pure-Python parser); a text it
    refuses is parsed again by the pure-Python `SafeLoader`, whose error the admins' messages
    (`bot.yaml_errors`) are written for. A text with a merge key (`<<`) is parsed twice, as the
    data is built from a tree of its own: building the data rewrites a merge in the tree."""
    if loader is None or "<<" in text:
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    parser = loader(text)
    try:
        root = parser.get_single_node()
        data = parser.construct_document(root) if root is not None else None
    except yaml.YAMLError:
        return _parse(text, None)
    finally:
        parser.dispose()
    return root, data


def _check_file(name: str, text: str) -> _FileResult:
    try:
        root, data = _parse(text)
    except yaml.YAMLError as exc:
        explained = explain_yaml_error(exc, text)  # parser jargon -> what to do, for admins
        return _FileResult(problems=[Problem(name, explained.line, "", explained.message)])
    lines = _Lines(root)
    ck = _FileChecker(name, lines)
    result = _FileResult(problems=ck.problems)  # the checker appends to this very list
    for key, line in lines.duplicate_keys():
        ck.fail([], messages.DUPLICATE_KEY.format(key=key), line)
    doc = ck.mapping(data, [], _FILE_KEYS, _FILE_REQUIRED)
    if doc is None:
        return result

    raw_area = ck.mapping(doc.get("area"), ["area"], _AREA_KEYS | _AREA_OPTIONAL, _AREA_KEYS)
    if raw_area is not None:
        # a missing key is reported once, by ck.mapping above
        def field_text(key: str) -> str | None:
            return ck.text(raw_area.get(key), ["area", key]) if key in raw_area else None

        area_id = field_text("id")
        if area_id is not None and not TOPIC_ID.match(area_id):
            ck.fail(["area", "id"], id_advice(area_id))
        title, intro, question = field_text("title"), field_text("intro"), field_text("question")
        raw_replies = ck.mapping(
            raw_area.get("replies"), ["area", "replies"], _REPLY_KEYS, _REPLY_KEYS
        )
        replies: dict[str, str] = {}
        if raw_replies is not None:
            for key in sorted(_REPLY_KEYS & set(raw_replies)):
                value = ck.text(raw_replies.get(key), ["area", "replies", key])
                if value is not None:
                    replies[key] = value
        out_of_scope = _check_out_of_scope(ck, doc)
        if area_id and title and intro and question and len(replies) == len(_REPLY_KEYS):
            result.area = Area(
                area_id, title, intro, question, Replies(**replies), name, out_of_scope
            )
            result.area_line = lines.line(["area", "id"])

    raw_topics = doc.get("topics")
    if not isinstance(raw_topics, list):
        ck.fail(["topics"], messages.TOPICS_NOT_A_LIST.format(found=_type_name(raw_topics)))
        raw_topics = []
    elif not raw_topics:
        ck.fail(["topics"], messages.TOPICS_EMPTY)
    area_id = result.area.id if result.area else ""
    checked: list[tuple[int, Topic]] = []
    for i, raw in enumerate(raw_topics):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            result.declared_ids.add(raw["id"].strip())
        topic = _check_topic(ck, raw, ["topics", i], area_id)
        if topic is not None:
            checked.append((i, topic))
            related_lines = tuple(
                lines.line(["topics", i, "related", j]) for j in range(len(topic.related))
            )
            result.topics.append(_Placed(topic, lines.line(["topics", i, "id"]), related_lines))
    if raw_area is not None and "source_text" in raw_area:
        _check_faithful(ck, name, raw_area, result.area, checked)
    return result


def _check_faithful(
    ck: _FileChecker,
    name: str,
    raw_area: Mapping[str, Any],
    area: Area | None,
    topics: list[tuple[int, Topic]],
) -> None:
    """Every sentence of the area's pledges, explanations, facts and intro stands in the party's
    text the area names (`area.source_text`), its known typos corrected."""
    relative = ck.text(raw_area.get("source_text"), ["area", "source_text"])
    raw_corrections = raw_area.get("source_corrections") or {}
    corrections: dict[str, str] = {}
    if not isinstance(raw_corrections, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_corrections.items()
    ):
        ck.fail(["area", "source_corrections"], messages.SOURCE_CORRECTIONS_FORMAT)
    else:
        corrections = raw_corrections
    if relative is None:
        return
    path = Path(name).parent / relative
    try:
        source = faithfulness.corrected(path.read_text(encoding="utf-8"), corrections)
    except (OSError, UnicodeDecodeError):
        ck.fail(["area", "source_text"], messages.SOURCE_TEXT_MISSING.format(path=relative))
        return
    shown = Path(relative).name
    texts: list[tuple[list[str | int], str | None]] = []
    if area is not None:
        texts.append((["area", "intro"], area.intro))
    for i, topic in topics:
        texts += [(["topics", i, "pledge"], topic.pledge)]
        texts += [(["topics", i, "explanation"], topic.explanation)]
        texts += [(["topics", i, "facts", j, "text"], f.text) for j, f in enumerate(topic.facts)]
    for path_to, text in texts:
        for sentence in faithfulness.not_in_source(text or "", source):
            ck.fail(path_to, messages.NOT_IN_SOURCE.format(sentence=sentence, source=shown))


def _check_out_of_scope(ck: _FileChecker, doc: Mapping[str, Any]) -> OutOfScope:
    if doc.get("out_of_scope") is None:
        return OutOfScope()  # absent, or the key with nothing under it yet
    raw = ck.mapping(doc["out_of_scope"], ["out_of_scope"], _OUT_OF_SCOPE_KEYS, set())
    if raw is None:
        return OutOfScope()
    lists = {
        key: tuple(ck.text_list(raw.get(key), ["out_of_scope", key], non_empty=False))
        for key in sorted(_OUT_OF_SCOPE_KEYS)
    }
    return OutOfScope(**lists)


def _check_topic(ck: _FileChecker, raw: Any, path: list[str | int], area_id: str) -> Topic | None:
    before = len(ck.problems)
    t = ck.mapping(raw, path, _TOPIC_KEYS, _TOPIC_REQUIRED)
    if t is None:
        return None
    topic_id = ck.text(t.get("id"), [*path, "id"]) if "id" in t else None
    if topic_id is not None and not TOPIC_ID.match(topic_id):
        ck.fail([*path, "id"], id_advice(topic_id))
    if topic_id is not None and len(topic_id) > MAX_ID_LENGTH:
        message = messages.ID_TOO_LONG.format(length=len(topic_id), limit=MAX_ID_LENGTH)
        ck.fail([*path, "id"], message)
    title = ck.text(t.get("title"), [*path, "title"]) if "title" in t else None
    pledge = ck.text(t.get("pledge"), [*path, "pledge"]) if "pledge" in t else None
    explanation = ck.text(t.get("explanation"), [*path, "explanation"], required=False)
    keywords = (
        ck.text_list(t.get("keywords"), [*path, "keywords"], non_empty=True)
        if "keywords" in t
        else []
    )
    examples = ck.text_list(t.get("examples"), [*path, "examples"], non_empty=False)
    broad = ck.text_list(t.get("broad_keywords"), [*path, "broad_keywords"], non_empty=False)
    related = ck.text_list(t.get("related"), [*path, "related"], non_empty=False)
    facts: list[Fact] = []
    raw_facts = t.get("facts")
    if raw_facts is None:
        raw_facts = []
    if not isinstance(raw_facts, list):
        ck.fail([*path, "facts"], messages.MUST_BE_LIST.format(found=_type_name(raw_facts)))
        raw_facts = []
    for j, raw_fact in enumerate(raw_facts):
        fpath = [*path, "facts", j]
        f = ck.mapping(raw_fact, fpath, _FACT_KEYS, {"text"})
        if f is None:
            continue
        text = ck.text(f.get("text"), [*fpath, "text"]) if "text" in f else None
        date = f.get("date")
        if isinstance(date, (dt.date, int)) and not isinstance(date, bool):
            date = str(date)  # YAML reads 2023-08-16 as a date and 2022 as a number
        if date is not None and not (isinstance(date, str) and DATE.match(date)):
            ck.fail([*fpath, "date"], messages.BAD_DATE.format(value=date, **DATE_EXAMPLES))
            date = None
        if text is not None:
            facts.append(Fact(text, date))
    if len(ck.problems) > before or not (topic_id and title and pledge):
        return None
    return Topic(
        id=topic_id,
        title=title,
        pledge=pledge,
        explanation=explanation,
        facts=tuple(facts),
        related=tuple(related),
        keywords=tuple(keywords),
        examples=tuple(examples),
        area_id=area_id,
        broad_keywords=tuple(broad),
    )


def knowledge_files(path: Path) -> list[Path]:
    """The YAML files a knowledge path stands for: the file itself or every *.yaml in a folder."""
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def load_knowledge(path: str | Path, origin: Callable[[Path], Path] | None = None) -> KnowledgeBase:
    """Load and validate every knowledge file under `path`; raise KnowledgeError on any problem.

    `origin`: where each file really belongs, when `path` holds copies (the write-back validates
    a change on copies): problems name the real file, and `area.source_text` is found from it."""
    with gc_paused():  # (the garbage collector would scan every node of every file, often)
        return _load_knowledge(Path(path), origin)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for building many objects that stay (if it was on,
    it is on again after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_knowledge(path: Path, origin: Callable[[Path], Path] | None) -> KnowledgeBase:
    problems: list[Problem] = []
    if not path.exists():
        raise KnowledgeError([Problem(str(path), None, "", messages.KNOWLEDGE_MISSING)])
    files = knowledge_files(path)
    if not files:
        raise KnowledgeError([Problem(str(path), None, "", messages.KNOWLEDGE_NO_FILES)])
    areas: list[Area] = []
    topics: list[Topic] = []
    first_seen: dict[str, tuple[str, int | None]] = {}
    area_seen: dict[str, tuple[str, int | None]] = {}
    placed: list[tuple[str, _Placed]] = []
    declared: set[str] = set()
    for file in files:
        name = str(origin(file) if origin is not None else file)
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                too_large = messages.FILE_TOO_LARGE.format(limit=MAX_FILE_BYTES // 1_000_000)
                problems.append(Problem(name, None, "", too_large))
                continue
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            not_utf8 = messages.FILE_NOT_UTF8.format(encoding="UTF-8")
            problems.append(Problem(name, None, "", not_utf8))
            continue
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)  # e.g. EACCES
            problems.append(Problem(name, None, "", messages.FILE_UNREADABLE.format(reason=reason)))
            continue
        result = _check_file(name, text)
        problems.extend(result.problems)
        declared |= result.declared_ids
        area = result.area
        if area is not None:
            if area.id in area_seen:
                other, other_line = area_seen[area.id]
                problems.append(
                    Problem(
                        name,
                        result.area_line,
                        "area.id",
                        messages.AREA_ID_TAKEN.format(id=area.id, other=other, line=other_line),
                    )
                )
            else:
                area_seen[area.id] = (name, result.area_line)
                areas.append(area)
        for item in result.topics:
            topic, line = item.topic, item.line
            if topic.id in first_seen:
                other, other_line = first_seen[topic.id]
                problems.append(
                    Problem(
                        name,
                        line,
                        "id",
                        messages.TOPIC_ID_TAKEN.format(id=topic.id, other=other, line=other_line),
                    )
                )
                continue
            first_seen[topic.id] = (name, line)
            topics.append(topic)
            placed.append((name, item))
    # a related id is unknown only if no topic declares it: a topic with problems of its own
    # has already been reported and is not reported again here, nor is the valid spelling of an
    # invalid id (`related: [kommuneokonomi]` is right; `id: kommuneøkonomi` is what to fix)
    ids = {t.id for t in topics} | declared | {ascii_id(i) for i in declared}
    for where, item in placed:
        topic = item.topic
        for rel, line in zip(topic.related, item.related_lines, strict=True):
            if rel == topic.id:
                problems.append(
                    Problem(
                        where, line, f"{topic.id}.related", messages.RELATED_ITSELF.format(id=rel)
                    )
                )
            elif rel not in ids:
                hint = _suggest(rel, {i for i in ids if TOPIC_ID.match(i)})  # only valid ids
                message = messages.RELATED_UNKNOWN.format(id=rel, hint=hint)
                problems.append(Problem(where, line, f"{topic.id}.related", message))
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(tuple(areas), tuple(topics), tuple(str(f) for f in files))
