"""Writing into the knowledge files the admins own, without losing a comment.

The only way the bot changes a knowledge file: ruamel.yaml round-trip mode (comments, key order,
quoting and layout kept; the file's own indentation and line width detected and reused). Every
change is validated by loading the whole knowledge with the changed file in its place (in a
temporary copy) before the real file is touched; then the new text is written to a temporary file
in the same folder, flushed to disk (fsync) and moved over the old one (`os.replace`), so a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from bot import messages
from bot.knowledge import KnowledgeBase, KnowledgeError, Problem, knowledge_files, load_knowledge
from bot.normalize import clean, words


class WriteError(Exception):
    """The change cannot be made (the file is untouched); the message, or `problems`, says why
    in the admins' words."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Written:
    file: Path
    added: bool  # False: the question was already there, nothing written
    text: str = ""  # the question as written (contact details left out)


@dataclass(frozen=True)
class _Layout:
    mapping: int = 2
    sequence: int = 4
    offset: int = 2
    width: int = 100


_KEY_LINE = re.compile(r"^( *)[^\s#-][^:#]*:\s*(?:#.*)?$")
_ITEM_LINE = re.compile(r"^( *)- ")


def _layout(text: str) -> _Layout:
    """The indentation and line width the file uses (ruamel's defaults if it does not say)."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping = offset = None
    for line, following in itertools.pairwise(lines):
        key = _KEY_LINE.match(line)
        if key is None:
            continue
        indent = len(key.group(1))
        item = _ITEM_LINE.match(following)
        if item is not None and offset is None:
            offset = max(len(item.group(1)) - indent, 0)
        elif item is None and mapping is None:
            nested = len(following) - len(following.lstrip(" "))
            if nested > indent:
                mapping = nested - indent
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = offset if offset is not None else 2
    width = max([len(line) for line in text.splitlines()] + [80])
    return _Layout(mapping=mapping, sequence=offset + 2, offset=offset, width=width)


def _yaml(layout: _Layout) -> YAML:
    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
    y.width = layout.width
    return y


def _append(seq: CommentedSeq, value: str) -> None:
    """Append to a block sequence, keeping what followed its last item (blank lines, comments)
    after the new last item instead of before it."""
    last = len(seq) - 1
    previous = seq[last] if last >= 0 else None
    if isinstance(previous, DoubleQuotedScalarString | SingleQuotedScalarString):
        seq.append(type(previous)(value))  # quoted like the items before it
    else:
        seq.append(value)
    trailing = seq.ca.items.pop(last, None) if last >= 0 else None
    if trailing is not None:
        seq.ca.items[last + 1] = trailing


def _new_seq(value: str) -> CommentedSeq:
    seq = CommentedSeq([value])
    seq.fa.set_block_style()
    return seq


def _set_list(parent: CommentedMap, key: str, value: str, after: tuple[str, ...]) -> bool:
    """Add `value` to the list at `parent[key]` (creating it after one of `after`). False if it
    is there already."""
    current = parent.get(key)
    if isinstance(current, CommentedSeq) and len(current) > 0:
        if any(_same(str(v), value) for v in current):
            return False
        if current.fa.flow_style():
            current.append(value)
        else:
            _append(current, value)
        return True
    # missing, empty ([]) or null: a new block list
    if key in parent:
        # the comments/blank lines after "key: []" must stay after the new list
        trailing = parent.ca.items.get(key)
        parent[key] = _new_seq(value)
        if trailing is not None and trailing[2] is not None:
            parent[key].ca.items[0] = [None, None, trailing[2], None]
            parent.ca.items.pop(key, None)
        return True
    keys = list(parent.keys())
    position = len(keys)
    for name in after:
        if name in keys:
            position = keys.index(name) + 1
            break
    previous = keys[position - 1] if position > 0 else None
    trailing = parent.ca.items.pop(previous, None) if previous is not None else None
    parent.insert(position, key, _new_seq(value))
    if trailing is not None and trailing[2] is not None:
        parent[key].ca.items[0] = [None, None, trailing[2], None]
    return True


def _same(a: str, b: str) -> bool:
    return words(a) == words(b)


def _validate(kb_path: Path, file: Path, new_text: str) -> None:
    """Load the whole knowledge with `file` replaced by `new_text`; raise WriteError if invalid."""
    files = knowledge_files(kb_path)
    with tempfile.TemporaryDirectory(prefix="distriktsbot-check-") as tmp:
        copies: dict[str, str] = {}
        for f in files:
            target = Path(tmp) / f.name
            if f.resolve() == file.resolve():
                target.write_text(new_text, encoding="utf-8")
            else:
                shutil.copyfile(f, target)
            copies[str(target)] = str(f)
        try:
            load_knowledge(
                tmp if kb_path.is_dir() else Path(tmp) / file.name,
                origin=lambda copy: Path(copies[str(copy)]),
            )
        except KnowledgeError as exc:
            raise WriteError(messages.WRITE_INVALID, exc.problems) from None


def atomic_write(file: Path, text: str) -> None:
    """Replace `file` with `text`: temporary file in the same folder, fsync, os.replace."""
    folder = file.parent
    mode = file.stat().st_mode & 0o777 if file.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not on Windows)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _edit(kb_path: Path, file: Path, change: Any) -> Written:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:
        raise WriteError(messages.WRITE_UNREADABLE.format(file=file.name)) from None
    y = _yaml(_layout(text))
    try:
        data = y.load(text)
    except YAMLError:
        # the file is broken as it stands (edited by hand since the last reload): the loader
        # says where and what to do, in the admins' words
        broken = messages.WRITE_BROKEN.format(file=file.name)
        try:
            _validate(kb_path, file, text)
        except WriteError as exc:
            raise WriteError(broken, exc.problems) from None
        raise WriteError(broken) from None
    if not isinstance(data, CommentedMap):
        raise WriteError(messages.WRITE_NOT_KNOWLEDGE.format(file=file.name))
    if not change(data):
        return Written(file, added=False)
    out = io.StringIO()
    y.dump(data, out)
    new_text = out.getvalue()
    _validate(kb_path, file, new_text)
    atomic_write(file, new_text)
    return Written(file, added=True)


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.\w+")
_NUMBER = re.compile(r"\+?\d[\d .\-]*\d")
_PHONE_DIGITS = 8  # a Norwegian phone number; a personal number has 11. Amounts and years fewer.


def without_contact_details(text: str) -> str:
    """`text` without e-mail addresses and numbers of 8 digits or more (phone numbers, personal
    numbers, account numbers): a voter's question is copied into the knowledge files, which are
    kept for good and shared, so what identifies a person is left out."""
    text = _EMAIL.sub("", text)
    text = _NUMBER.sub(
        lambda m: "" if sum(c.isdigit() for c in m.group()) >= _PHONE_DIGITS else m.group(), text
    )
    return " ".join(text.split())


def _question(text: str) -> str:
    question = without_contact_details(clean(text))
    if not words(question):
        raise WriteError(messages.WRITE_NO_WORDS)
    return question


def add_example(kb: KnowledgeBase, kb_path: Path, topic_id: str, question: str) -> Written:
    """Add `question` to the `examples` of `topic_id`, in the file that defines it."""
    topic = kb.topic(topic_id)
    if topic is None:
        raise WriteError(messages.WRITE_UNKNOWN_TOPIC.format(id=topic_id))
    question = _question(question)
    file = Path(kb.area_of(topic).source)

    def change(data: CommentedMap) -> bool:
        for raw in data.get("topics") or []:
            if isinstance(raw, CommentedMap) and str(raw.get("id", "")).strip() == topic_id:
                return _set_list(raw, "examples", question, ("keywords", "broad_keywords"))
        raise WriteError(messages.WRITE_TOPIC_GONE.format(id=topic_id, file=file.name))

    return dataclasses.replace(_edit(kb_path, file, change), text=question)


def add_not_ours(kb: KnowledgeBase, kb_path: Path, area_id: str, question: str) -> Written:
    """Add `question` to the area's `out_of_scope.examples` (created when missing)."""
    area = next((a for a in kb.areas if a.id == area_id), None)
    if area is None:
        raise WriteError(messages.WRITE_UNKNOWN_AREA.format(id=area_id))
    question = _question(question)
    file = Path(area.source)

    def change(data: CommentedMap) -> bool:
        section = data.get("out_of_scope")
        if not isinstance(section, CommentedMap):
            section = CommentedMap()
            keys = list(data.keys())
            position = keys.index("area") + 1 if "area" in keys else len(keys)
            previous = keys[position - 1] if position > 0 else None
            trailing = data.ca.items.pop(previous, None) if previous is not None else None
            data.insert(position, "out_of_scope", section)
            added = _set_list(section, "examples", question, ())
            if trailing is not None and trailing[2] is not None:
                section["examples"].ca.items[0] = [None, None, trailing[2], None]
            return added
        return _set_list(section, "examples", question, ())

    return dataclasses.replace(_edit(kb_path, file, change), text=question)
