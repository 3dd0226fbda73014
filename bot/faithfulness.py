"""Every political sentence the bot says is the party's own: checked against the source text.

An area may name the party's text it is curated from (`area.source_text`, a path relative to the
knowledge file) and the typos in it that the knowledge corrects (`area.source_corrections`).
Then every sentence of every pledge, explanation and fact of the area's topics, and the area's
intro, must stand word for word in that text (whitespace aside). `distriktsbot check` and
`/oppdater` refuse knowledge that does not: an invented pledge never reaches a voter.

The tests (tests/test_faithfulness.py) check more of the shipped knowledge than this: that an
explanation comes from the passage of its own pledge, that figures and dates come from the source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

# a sentence ends at . ! ? followed by a capital letter or a digit ("16. august" does not end one)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9])")


def normalise(text: str) -> str:
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    """The sentences of a text, whitespace normalised."""
    return [s for s in _SENTENCE_END.split(normalise(text)) if s]


def corrected(source: str, corrections: Mapping[str, str]) -> str:
    """The source with its known typos corrected, whitespace normalised."""
    for typo, right in corrections.items():
        source = source.replace(typo, right)
    return normalise(source)


def not_in_source(text: str, source: str) -> Iterator[str]:
    """The sentences of `text` that do not stand in `source` (already `corrected`)."""
    for sentence in sentences(text):
        if sentence not in source:
            yield sentence
