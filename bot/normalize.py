"""Text normalisation shared by the knowledge index and the per-question path.

Voters write with and without æøå ("kommuneøkonomi", "kommuneokonomi", "kommuneoekonomi"),
in bokmål, nynorsk and English. Everything is folded to one ASCII spelling before matching:
æ -> ae, ø -> o, å -> a, "aa" -> "a", "oe" after a consonant is left alone (too ambiguous).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_FOLD = str.maketrans(
    {
        "æ": "ae",
        "ø": "o",
        "å": "a",
        "ä": "ae",
        "ö": "o",
        "ü": "u",
        "ß": "ss",
        "œ": "oe",
        # invisible characters inside a word ("fer\u200bje") would split it in two: drop them
        "\u00ad": None,  # soft hyphen
        "\u180e": None,  # Mongolian vowel separator
        "\u200b": None,  # zero-width space
        "\u200c": None,  # zero-width non-joiner
        "\u200d": None,  # zero-width joiner
        "\u2060": None,  # word joiner
        "\ufeff": None,  # zero-width no-break space (BOM)
    }
)
_TOKEN = re.compile(r"[a-z0-9]+")
_AA = re.compile(r"aa")

_stemmer = snowballstemmer.stemmer("norwegian")

MAX_QUESTION_CHARS = 1000
"""Only this much of a message is read: a longer message is cut, never rejected."""

MAX_WORD_CHARS = 40
"""Longer 'words' are noise (no Norwegian compound a voter types is this long) and are dropped,
so a message of one 10,000-letter word costs no more than any other."""


def clean(text: str) -> str:
    """Text safe to store and log: lone surrogates (undecodable input) become U+FFFD, and NUL
    characters (which PostgreSQL refuses in text) are dropped."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def fold(text: str) -> str:
    """Lower-case, fold æøå and accents to ASCII, keep letters and digits separated by spaces."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_FOLD)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _AA.sub("a", text)
    return " ".join(_TOKEN.findall(text))


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return [w for w in fold(text[: MAX_QUESTION_CHARS * 2]).split() if len(w) <= MAX_WORD_CHARS]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Norwegian Snowball stem of a folded word (cached: voters reuse the same words)."""
    if len(word) <= 3 or word.isdigit():
        return word
    stemmed: str = _stemmer.stemWord(word)
    return stemmed
