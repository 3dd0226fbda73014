"""Match a voter's free-text question to a topic of the knowledge base.

How it works (measured on the labelled sets under tests/data, see README "Matcheren"):

1. The question is folded (case, æøå, punctuation), split into words, function words dropped and
   each word stemmed with the Norwegian Snowball stemmer.
2. Each word is looked up in a vocabulary built once from the topics' keywords, titles, example
   questions and texts: exactly, with a small edit distance for typos (rapidfuzz, OSA distance),
   as a part of a compound ("fergebillettene" -> "ferge" + "billett") and as a truncated word.
3. A topic's score is the sum, over the question's words, of the best term each word hits in that
   topic, weighted by where the term comes from (keyword > title > example > pledge text) and by
   how telling it is (terms used by many topics count less).
4. The best topic is answered only if its score clears an absolute threshold; a runner-up close
   to it makes the match ambiguous ("Mente du …?"). Greetings and thanks with nothing else are
   small talk.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.knowledge import KnowledgeBase, Topic
from bot.lexicon import OFFTOPIC, SMALLTALK, STOPWORDS
from bot.normalize import stem, words

MAX_WORDS = 120
"""Only the first words of a very long message are read."""


class MatchKind(StrEnum):
    TOPIC = "topic"
    SMALLTALK = "smalltalk"
    NONE = "none"


@dataclass(frozen=True)
class Settings:
    """Weights and thresholds; defaults are the values measured best on tests/data."""

    w_keyword: float = 1.0
    w_title: float = 1.0
    w_example: float = 0.6
    w_pledge: float = 0.45
    w_text: float = 0.3
    w_phrase: float = 0.5  # bonus when all words of a multi-word keyword are present
    w_phrase_part: float = 0.6  # a word of a multi-word keyword on its own counts this much
    idf_power: float = 0.4
    df_text: float = 0.1
    sim_edit1: float = 0.85
    sim_edit2: float = 0.7
    sim_compound_head: float = 0.8
    sim_compound_modifier: float = 0.8
    sim_prefix: float = 0.7
    w_broad_rank: float = 0.4  # a broad keyword's weight in the ranking (full as evidence)
    sim_suffix: float = 0.95  # a known word plus an inflection or dialect ending
    threshold: float = 0.66  # minimal score for an answer
    decoy_ratio: float = 0.8  # an off-topic word this strong against the best topic -> decline
    ambiguity_ratio: float = 0.8  # runner-up within this ratio of the best -> ambiguous
    alternative_ratio: float = 0.4  # topics within this ratio of the best are alternatives
    max_alternatives: int = 3


@dataclass(frozen=True)
class Match:
    kind: MatchKind
    topic_id: str | None
    score: float
    alternatives: tuple[tuple[str, float], ...] = ()
    ambiguous: bool = False
    # declined because the question is (nearly) one an admin marked "not our policy"
    out_of_scope: bool = False

    @property
    def candidates(self) -> list[str]:
        """The best topic followed by the alternatives (for "Mente du …?")."""
        first = [self.topic_id] if self.topic_id else []
        return first + [t for t, _ in self.alternatives]


@dataclass
class _Term:
    text: str
    postings: dict[int, float]  # topic index -> source weight
    spread: dict[int, float] = field(default_factory=dict)  # topic index -> share in df
    broad: bool = False  # a broad keyword of some topic: counts little in the ranking
    idf: float = 1.0


class Matcher:
    def __init__(self, kb: KnowledgeBase, settings: Settings | None = None) -> None:
        self.kb = kb
        self.settings = s = settings or Settings()
        self.topic_ids = [t.id for t in kb.topics]
        self._terms: list[_Term] = []
        self._term_index: dict[str, int] = {}
        # topic, term ids, weight in the evidence, weight in the ranking
        self._phrases: list[tuple[int, tuple[int, ...], float, float]] = []
        for ti, topic in enumerate(kb.topics):
            self._index_topic(ti, topic)
        # the decoy for subjects the knowledge does not cover is one more (hidden) topic
        self._decoy = len(kb.topics)
        self._add(self._decoy, sorted(OFFTOPIC), s.w_keyword, phrases=True)
        n = max(len(kb.topics), 1)
        for term in self._terms:
            # how many topics use the term as a keyword or title (examples and prose count a
            # little), so a word that many topics' prose mentions stays telling where it is a
            # keyword
            df = sum(term.spread.values())
            term.idf = (1.0 / max(df, 1.0)) ** s.idf_power if n > 1 else 1.0
        self._vocab = [t.text for t in self._terms]
        self._sorted_vocab = sorted(self._vocab)
        self._by_length: dict[int, list[str]] = defaultdict(list)
        for text in self._vocab:
            self._by_length[len(text)].append(text)
        self._phrases_by_term: dict[int, list[int]] = defaultdict(list)
        for pi, (_, term_ids, _, _) in enumerate(self._phrases):
            for tid in term_ids:
                self._phrases_by_term[tid].append(pi)
        self._lookup = lru_cache(maxsize=100_000)(self._lookup_uncached)
        # STOPGAP (issue-7a), until the matcher learns from out_of_scope examples in general
        # (issue-8): a question that is, word for word or nearly, one of an area's
        # out_of_scope.examples is declined.
        self._not_ours = sorted(
            {_example_key(e) for area in kb.areas for e in area.out_of_scope_examples} - {""}
        )

    def is_not_ours(self, text: str) -> bool:
        """Whether `text` is (nearly) one of the out_of_scope examples (STOPGAP, see above)."""
        if not self._not_ours:
            return False
        key = _example_key(text)
        return bool(key) and (
            process.extractOne(key, self._not_ours, scorer=fuzz.ratio, score_cutoff=92) is not None
        )

    # --- index -------------------------------------------------------------------------------

    def _term_id(self, text: str) -> int:
        tid = self._term_index.get(text)
        if tid is None:
            tid = len(self._terms)
            self._term_index[text] = tid
            self._terms.append(_Term(text, {}))
        return tid

    def _add(
        self,
        ti: int,
        texts: Iterable[str],
        weight: float,
        phrases: bool = False,
        broad: bool = False,
    ) -> None:
        spread = 1.0 if phrases else self.settings.df_text
        for text in texts:
            stems = _content_stems(text)
            ids = []
            part = weight * (self.settings.w_phrase_part if phrases and len(stems) > 1 else 1.0)
            for st in stems:
                tid = self._term_id(st)
                ids.append(tid)
                term = self._terms[tid]
                term.postings[ti] = max(term.postings.get(ti, 0.0), part)
                term.spread[ti] = max(term.spread.get(ti, 0.0), spread)
                term.broad = term.broad or broad
            if phrases and len(set(ids)) > 1:
                rank = weight * self.settings.w_broad_rank if broad else weight
                self._phrases.append((ti, tuple(dict.fromkeys(ids)), weight, rank))

    def _index_topic(self, ti: int, topic: Topic) -> None:
        s = self.settings
        self._add(ti, topic.keywords, s.w_keyword, phrases=True)
        self._add(ti, topic.broad_keywords, s.w_keyword, phrases=True, broad=True)
        self._add(ti, [topic.title, topic.id.replace("-", " ")], s.w_title, phrases=True)
        self._add(ti, topic.examples, s.w_example)
        self._add(ti, [topic.pledge], s.w_pledge)
        self._add(ti, [topic.explanation, *(f.text for f in topic.facts)], s.w_text)

    # --- per question ------------------------------------------------------------------------

    def _lookup_uncached(self, word: str) -> tuple[tuple[int, float], ...]:
        """Vocabulary terms a (folded) word hits, with a similarity in (0, 1]."""
        s = self.settings
        st = stem(word)
        exact = self._term_index.get(st)
        if exact is None and word != st:
            exact = self._term_index.get(word)
        if exact is not None:
            return ((exact, 1.0),)
        hits: dict[int, float] = {}

        def hit(text: str, sim: float) -> None:
            tid = self._term_index.get(text)
            if tid is not None and sim > hits.get(tid, 0.0):
                hits[tid] = sim

        n = len(st)
        for ending in _ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 4:
                base = word[: -len(ending)]
                hit(base, s.sim_suffix)
                hit(stem(base), s.sim_suffix)
        if n >= 5:
            max_edits = 1 if n < 8 else 2
            pool: list[str] = []
            for length in range(n - max_edits, n + max_edits + 1):
                pool.extend(self._by_length.get(length, ()))
            for text, dist, _ in process.extract(
                st, pool, scorer=OSA.distance, score_cutoff=max_edits, limit=None
            ):
                hit(text, s.sim_edit1 if dist <= 1 else s.sim_edit2)
        if len(word) >= 7:
            for i in range(4, len(word) - 3):
                modifier, head = word[:i], word[i:]
                hs = stem(head)
                if len(hs) >= 4 and hs in self._term_index:
                    hit(hs, s.sim_compound_head)
                for mod in (modifier, modifier[:-1] if modifier[-1] in "se" else ""):
                    if len(mod) >= 4:
                        hit(stem(mod), s.sim_compound_modifier)
                        hit(mod, s.sim_compound_modifier)
        if n >= 5:
            lo = bisect.bisect_left(self._sorted_vocab, st)
            for text in self._sorted_vocab[lo : lo + 8]:
                if not text.startswith(st):
                    break
                if n >= 0.7 * len(text):
                    hit(text, s.sim_prefix)
        return tuple(hits.items())

    def scores(self, text: str) -> tuple[dict[int, float], dict[int, float], bool, bool]:
        """Evidence and rank score per topic, whether there were content words, and small talk.

        Evidence decides whether a topic is answered at all; the rank score decides which topic.
        They differ only for broad keywords, which count fully as evidence but little in the
        ranking, so a specific topic wins over the overview when both match."""
        content: list[str] = []
        smalltalk = False
        for word in words(text)[:MAX_WORDS]:
            if word in SMALLTALK:
                smalltalk = True
            elif word not in STOPWORDS:
                content.append(word)
        totals: dict[int, float] = defaultdict(float)
        ranks: dict[int, float] = defaultdict(float)
        matched_terms: dict[int, float] = {}
        broad_factor = self.settings.w_broad_rank
        for word in dict.fromkeys(content):
            best: dict[int, tuple[float, float]] = {}
            for tid, sim in self._lookup(word):
                term = self._terms[tid]
                matched_terms[tid] = max(matched_terms.get(tid, 0.0), sim)
                for ti, weight in term.postings.items():
                    value = sim * weight * term.idf
                    rank = value * broad_factor if term.broad else value
                    if rank > best.get(ti, (0.0, 0.0))[1]:
                        best[ti] = (value, rank)
            for ti, (value, rank) in best.items():
                totals[ti] += value
                ranks[ti] += rank
        if len(matched_terms) > 1:
            for pi in {pi for tid in matched_terms for pi in self._phrases_by_term.get(tid, ())}:
                ti, term_ids, weight, rank_weight = self._phrases[pi]
                if all(t in matched_terms for t in term_ids):
                    sim = min(matched_terms[t] for t in term_ids) * self.settings.w_phrase
                    totals[ti] += weight * sim
                    ranks[ti] += rank_weight * sim
        return totals, ranks, bool(content), smalltalk

    def match(self, text: str) -> Match:
        s = self.settings
        if self._not_ours and self.is_not_ours(text):
            return Match(MatchKind.NONE, None, 0.0, out_of_scope=True)
        totals, ranks, has_content, smalltalk = self.scores(text)
        decoy = totals.get(self._decoy, 0.0)
        ranks.pop(self._decoy, None)
        # only the best and the alternatives are needed: a partial sort
        ranked = heapq.nsmallest(
            1 + s.max_alternatives, ranks.items(), key=lambda kv: (-kv[1], kv[0])
        )
        evidence = totals.get(ranked[0][0], 0.0) if ranked else 0.0
        if decoy and (not ranked or decoy >= evidence * s.decoy_ratio):
            return Match(MatchKind.NONE, None, 0.0)
        if not ranked or evidence < s.threshold:
            kind = MatchKind.SMALLTALK if smalltalk and not ranked else MatchKind.NONE
            if smalltalk and not has_content:
                kind = MatchKind.SMALLTALK
            return Match(kind, None, round(evidence, 3))
        best_ti, best = ranked[0]
        alternatives = tuple(
            (self.topic_ids[ti], round(sc, 3))
            for ti, sc in ranked[1 : 1 + s.max_alternatives]
            if sc >= best * s.alternative_ratio and sc >= s.threshold * 0.5
        )
        ambiguous = len(ranked) > 1 and ranked[1][1] >= best * s.ambiguity_ratio
        return Match(
            MatchKind.TOPIC, self.topic_ids[best_ti], round(best, 3), alternatives, ambiguous
        )


# Inflection and dialect endings the stemmer does not know (nynorsk -ane/-ar, Trønder/northern
# -an, -å), tried when a word is not in the vocabulary as it stands.
_ENDINGS = ("arane", "erane", "ane", "ene", "arne", "erne", "ar", "an", "en", "et", "er", "a", "e")


def _example_key(text: str) -> str:
    return " ".join(words(text))


def _content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and w not in SMALLTALK]
