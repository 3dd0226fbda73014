"""The knowledge's self-test (`distriktsbot check`, /oppdater, write-back) and what a reload
changed.

The self-test runs every topic's example questions through the matcher and lists those that land
elsewhere. The diff compares two loaded knowledge bases: topics added, removed and changed, and
example questions added.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages
from bot.knowledge import KnowledgeBase, Topic
from bot.matcher import Matcher, keyword_collisions
from bot.normalize import words


@dataclass(frozen=True)
class Miss:
    topic_id: str
    example: str
    landed: str | None  # the topic it lands on instead (None: declined)
    score: float
    choices: tuple[str, ...] = ()  # uncertain: the topics of the "Mente du …?" (its own among)


@dataclass(frozen=True)
class SelfTest:
    topics: int
    files: tuple[str, ...]
    examples: int
    misses: tuple[Miss, ...]
    # topic keywords that are also out-of-scope subjects or practical cues (not errors)
    warnings: tuple[str, ...] = ()
    # examples that get "Mente du …?" with their own topic among the choices: not wrong (the
    # voter is one tap from the answer), not sure either; reported, not errors
    uncertain: tuple[Miss, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.misses

    @property
    def passed(self) -> int:
        return self.examples - len(self.misses)

    def lines(self) -> list[str]:
        """The report `distriktsbot check` prints, in Norwegian for the admins who edit the
        knowledge (topic ids rather than titles: they are what the files say)."""
        out = [messages.SELFTEST_LINE_MISSES] if self.misses else []
        out.extend(
            messages.SELFTEST_LINE_MISS.format(
                topic=m.topic_id,
                example=m.example,
                landed=m.landed or messages.SELFTEST_NOWHERE,
                score=m.score,
            )
            for m in self.misses
        )
        if self.uncertain:
            out.append(messages.SELFTEST_LINE_UNCERTAIN)
        out.extend(
            messages.SELFTEST_LINE_UNCERTAIN_ITEM.format(
                topic=u.topic_id, example=u.example, choices=", ".join(u.choices)
            )
            for u in self.uncertain
        )
        out.extend(messages.SELFTEST_LINE_WARNING.format(warning=w) for w in self.warnings)
        out.append(
            messages.SELFTEST_LINE_SUMMARY.format(
                topics=self.topics,
                count=len(self.files),
                files=", ".join(self.files),
                passed=self.passed,
                total=self.examples,
            )
        )
        return out


def example_conflicts(kb: KnowledgeBase) -> list[str]:
    """Questions that are both a topic's example and one of its area's out-of-scope examples (as
    the matcher reads them: folded): the two pull opposite ways, and the admins should keep one."""
    out: list[str] = []
    for area in kb.areas:
        declined = {" ".join(words(e)): e for e in area.out_of_scope.examples}
        for topic in kb.topics:
            if topic.area_id != area.id:
                continue
            for example in topic.examples:
                if " ".join(words(example)) in declined:
                    out.append(
                        messages.EXAMPLE_CONFLICT.format(
                            topic=topic.id, example=example, file=area.source
                        )
                    )
    return out


def self_test(kb: KnowledgeBase, matcher: Matcher | None = None) -> SelfTest:
    matcher = matcher or Matcher(kb)
    misses: list[Miss] = []
    uncertain: list[Miss] = []
    total = 0
    for topic in kb.topics:
        for example in topic.examples:
            total += 1
            m = matcher.match(example)
            if m.topic_id != topic.id:
                misses.append(Miss(topic.id, example, m.topic_id, m.score))
            elif m.ambiguous:
                choices = tuple(m.candidates[:3])
                uncertain.append(Miss(topic.id, example, None, m.score, choices))
    warnings = (*keyword_collisions(kb), *example_conflicts(kb))
    return SelfTest(
        len(kb.topics), kb.files, total, tuple(misses), warnings, uncertain=tuple(uncertain)
    )


@dataclass(frozen=True)
class KnowledgeDiff:
    added: tuple[Topic, ...]
    removed: tuple[Topic, ...]
    changed: tuple[Topic, ...]  # in the new knowledge; anything but the examples changed
    examples_added: int
    not_ours_added: int  # out_of_scope examples added

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.examples_added or self.not_ours_added
        )


def _without_examples(topic: Topic) -> Topic:
    from dataclasses import replace

    return replace(topic, examples=())


def diff_knowledge(old: KnowledgeBase, new: KnowledgeBase) -> KnowledgeDiff:
    old_ids = set(old.topic_ids)
    new_ids = set(new.topic_ids)
    added = tuple(t for t in new.topics if t.id not in old_ids)
    removed = tuple(t for t in old.topics if t.id not in new_ids)
    changed = []
    examples_added = 0
    for topic in new.topics:
        before = old.topic(topic.id)
        if before is None:
            continue
        examples_added += len(set(topic.examples) - set(before.examples))
        if _without_examples(before) != _without_examples(topic):
            changed.append(topic)
    old_not_ours = {e for a in old.areas for e in a.out_of_scope.examples}
    new_not_ours = {e for a in new.areas for e in a.out_of_scope.examples}
    return KnowledgeDiff(
        added, removed, tuple(changed), examples_added, len(new_not_ours - old_not_ours)
    )
