"""Accuracy of the matcher on a labelled JSON Lines file ({"text": ..., "topics": [...]})."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.matcher import Match, Matcher


class LabelError(ValueError):
    """A labelled file has a line that cannot be used; the message names the line."""


@dataclass(frozen=True)
class Labelled:
    line: int
    text: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Miss:
    item: Labelled
    match: Match

    def describe(self) -> str:
        got = self.match.topic_id or "(ingen)"
        want = ", ".join(self.item.topics) or "(avvis)"
        flag = " ~tvetydig" if self.match.ambiguous else ""
        return (
            f"line {self.item.line}: {self.item.text!r}: want {want}, got {got}"
            f" ({self.match.score}){flag}"
        )


@dataclass
class Report:
    in_scope: int = 0
    top1: int = 0
    top3: int = 0
    out_of_scope: int = 0
    declined: int = 0
    confidently_wrong: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.in_scope + self.out_of_scope

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "questions": self.total,
            "in_scope": self.in_scope,
            "in_scope_top1": round(self.rate(self.top1, self.in_scope), 4),
            "in_scope_top3": round(self.rate(self.top3, self.in_scope), 4),
            "out_of_scope": self.out_of_scope,
            "out_of_scope_declined": round(self.rate(self.declined, self.out_of_scope), 4),
            "confidently_wrong": round(self.rate(self.confidently_wrong, self.total), 4),
        }

    def lines(self, show_misses: bool = True) -> list[str]:
        out = [
            f"questions:              {self.total}",
            f"in-scope top-1:         {self.rate(self.top1, self.in_scope):6.1%}"
            f"  ({self.top1}/{self.in_scope})",
            f"in-scope top-3:         {self.rate(self.top3, self.in_scope):6.1%}"
            f"  ({self.top3}/{self.in_scope})",
            f"out-of-scope declined:  {self.rate(self.declined, self.out_of_scope):6.1%}"
            f"  ({self.declined}/{self.out_of_scope})",
            f"confidently wrong:      {self.rate(self.confidently_wrong, self.total):6.1%}"
            f"  ({self.confidently_wrong}/{self.total})",
        ]
        if show_misses and self.misses:
            out.append(f"misses ({len(self.misses)}):")
            out.extend(f"  {m.describe()}" for m in self.misses)
        return out


def read_labelled(path: Path, known_topics: Sequence[str]) -> list[Labelled]:
    items = []
    try:
        raw_lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise LabelError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    for no, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}:{no}: not valid JSON: {exc.msg}") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise LabelError(f'{path}:{no}: expected an object with a "text" string')
        if "topics" not in obj:  # never a silent "must decline"
            raise LabelError(
                f'{path}:{no}: no "topics" (a list of topic ids; [] means the bot must decline)'
            )
        topics = obj["topics"]
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise LabelError(f'{path}:{no}: "topics" must be a list of topic ids')
        unknown = [t for t in topics if t not in known_topics]
        if unknown:
            raise LabelError(f"{path}:{no}: unknown topic id(s): {', '.join(unknown)}")
        items.append(Labelled(no, obj["text"], tuple(topics)))
    return items


def evaluate(matcher: Matcher, items: Iterable[Labelled]) -> Report:
    report = Report()
    for item in items:
        m = matcher.match(item.text)
        if item.topics:
            report.in_scope += 1
            ok1 = m.topic_id in item.topics
            ok3 = any(t in item.topics for t in m.candidates[:3])
            report.top1 += ok1
            report.top3 += ok3
            if not ok1:
                report.misses.append(Miss(item, m))
        else:
            report.out_of_scope += 1
            if m.topic_id is None:
                report.declined += 1
            else:
                report.misses.append(Miss(item, m))
        if m.topic_id is not None and m.topic_id not in item.topics and not m.ambiguous:
            report.confidently_wrong += 1
    return report
