"""Text normalisation shared by the knowledge index and the per-question path.

Voters write with and without æøå ("kommuneøkonomi", "kommuneokonomi", "kommuneoekonomi"),
in bokmål, nynorsk and English. Everything is folded to one ASCII spelling before matching:
æ -> ae, ø -> o, å -> a, "aa" -> "a", "oe" after a consonant is left alone (too ambiguous).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from functools import cache, lru_cache

import snowballstemmer

from bot.lexicon import FIGURE_QUESTION, LANGUAGE_MARKERS

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
        "ł": "l",
        "đ": "d",
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
# letters and digits of any script: a question in Polish, Arabic or Ukrainian keeps its words
_TOKEN = re.compile(r"[^\W_]+")
# a sentence ends at . ! ? or a line break (a decimal point or "16. august" may cut a sentence in
# two; that only moves a few words between the story and the question)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# a word, or the end of a sentence (. ! ? before a space, a line break)
_SENTENCE_TOKEN = re.compile(r"[^\W_]+|[.!?]+(?=\s)|\n")

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
    text = _fold_letters(unicodedata.normalize("NFKC", text).lower())
    if not text.isascii():  # accents (é, ü, ż) are dropped; plain ascii has none to drop
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("aa", "a")  # (left to right, without overlaps, as re.sub)
    return " ".join(_TOKEN.findall(text))


_FOLD_PAIRS = tuple((chr(k), v or "") for k, v in _FOLD.items())


def _fold_letters(text: str) -> str:
    """`text.translate(_FOLD)`, five times faster: str.translate looks every character of a
    non-ASCII text up in the table, where a few `in` tests and replacements do (the replacements
    are ASCII, so one never makes another)."""
    if text.isascii():
        return text
    for char, replacement in _FOLD_PAIRS:
        if char in text:
            text = text.replace(char, replacement)
    return text


def sentences(text: str) -> list[str]:
    """The sentences of a message, as written (not folded); empty ones dropped."""
    return [
        part.strip() for part in _SENTENCE.split(text[: MAX_QUESTION_CHARS * 2]) if part.strip()
    ]


def folded_sentences(text: str) -> list[tuple[list[str], bool]]:
    """The sentences of a message as their folded words (as `words`), each with whether it
    ends with a question mark; sentences without words are dropped. One pass over the text:
    a sentence ends at . ! ? followed by a space, or at a line break (as `sentences`)."""
    text = text[: MAX_QUESTION_CHARS * 2]
    if text.isascii():  # NFKC, æøå and accents leave plain ascii as it is
        text = text.lower()
    else:
        text = _fold_letters(unicodedata.normalize("NFKC", text).lower())
        if not text.isascii():
            text = unicodedata.normalize("NFKD", text)
            text = "".join(ch for ch in text if not unicodedata.combining(ch))
    out: list[tuple[list[str], bool]] = []
    current: list[str] = []
    for token in _SENTENCE_TOKEN.findall(text.replace("aa", "a") + " "):
        if token[0] in ".!?\n":
            if current:
                out.append((current, token[-1] == "?"))
                current = []
        elif len(token) <= MAX_WORD_CHARS:
            current.append(token)
    if current:
        out.append((current, False))
    return out


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return [w for w in fold(text[: MAX_QUESTION_CHARS * 2]).split() if len(w) <= MAX_WORD_CHARS]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Norwegian Snowball stem of a folded word (cached: voters reuse the same words)."""
    if len(word) <= 3 or word.isdigit():
        return word
    stemmed: str = _stemmer.stemWord(word)
    # the stemmer's last step drops the endings -lig/-leg, which merges words that mean different
    # things ("statlige" and "staten", "fastlege" and "fast"): they are kept (not in nouns made
    # from adjectives: "muligheter")
    rest = word[len(stemmed) :] if word.startswith(stemmed) else ""
    for ending in _ADJECTIVE_ENDINGS:
        if rest.startswith(ending) and "het" not in rest:
            return stemmed + ending
    return stemmed


_ADJECTIVE_ENDINGS = ("lig", "leg")


RARITY_COMMON = 6.5
"""A word this common (Zipf frequency: 6.5 is "og", "hva", "dere") weighs RARITY_FLOOR ..."""
RARITY_RARE = 4.0
"""... and a word this rare or rarer ("ferje" 3.3, "lade" 4.0, unknown words) weighs 1."""
RARITY_FLOOR = 0.3


@cache
def _zipf() -> dict[str, float]:
    """Zipf frequency of Norwegian words (wordfreq's small bokmål list, offline), by folded
    word and by stem; the higher of two words that fold or stem alike."""
    return _everyday()[0]


@cache
def _everyday() -> tuple[dict[str, float], frozenset[str]]:
    """`_zipf`'s table and `everyday_words`, from one pass over wordfreq's list (each word folded
    once)."""
    from wordfreq import get_frequency_dict

    table: dict[str, float] = {}
    folded_words: set[str] = set()
    for word, freq in get_frequency_dict("nb", wordlist="small").items():
        z = math.log10(freq) + 9.0
        for folded in fold(word).split():
            folded_words.add(folded)
            for key in (folded, stem(folded)):
                if z > table.get(key, 0.0):
                    table[key] = z
    return table, frozenset(folded_words)


def is_word(word: str) -> bool:
    """Whether a folded word (or stem) is in wordfreq's everyday Norwegian."""
    return word in _zipf()


def everyday_words() -> frozenset[str]:
    """The folded words of wordfreq's list of everyday Norwegian (about 30,000)."""
    return _everyday()[1]


def zipf(word: str) -> float:
    """Zipf frequency of a folded word (or stem) in everyday Norwegian; 0 if unknown."""
    return _zipf().get(word, 0.0)


@lru_cache(maxsize=65536)
def rarity(word: str) -> float:
    """How much a folded word (or stem) weighs for being rare in everyday Norwegian: 1 for rare
    and unknown words, down to RARITY_FLOOR for the most common ones."""
    z = _zipf().get(word, 0.0)
    if z <= RARITY_RARE:
        return 1.0
    share = min(1.0, (z - RARITY_RARE) / (RARITY_COMMON - RARITY_RARE))
    return 1.0 - share * (1.0 - RARITY_FLOOR)


_LATIN = re.compile(r"[a-zà-ÿāăąćčďđēėęěğīįıķĺļľłńņňōőœŕřśşšţťūůűųźżžæøå]", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_RAW_WORD = re.compile(r"[^\W\d_]+")


def other_language(text: str) -> str | None:
    """The language of a question that is clearly not Norwegian ("en", "sv", "de", …, or "other"
    for another script), else None. Conservative: Norwegian in dialect or with typos stays None."""
    text = unicodedata.normalize("NFKC", text[:MAX_QUESTION_CHARS]).lower()
    letters = _LETTER.findall(text)
    if len(letters) >= 8 and sum(1 for c in letters if not _LATIN.match(c)) > len(letters) / 2:
        return "other"
    tokens = set(_RAW_WORD.findall(text))
    counts = {lang: len(tokens & markers) for lang, markers in LANGUAGE_MARKERS.items()}
    norwegian = counts.pop("no")
    lang, best = max(counts.items(), key=lambda kv: kv[1])
    return lang if best >= 2 and best > norwegian else None


def asks_for_figure(text: str) -> bool:
    """Whether a question asks for a figure or a date ("når", "hvor mange", "how much")."""
    for sentence in sentences(text):
        folded = words(sentence)
        if any(w in FIGURE_QUESTION for w in folded) or any(
            f"{a} {b}" in FIGURE_QUESTION for a, b in itertools.pairwise(folded)
        ):
            return True
    return False
