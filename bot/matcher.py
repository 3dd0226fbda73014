"""Match a voter's free-text question to a topic of the knowledge base.

How it works (measured on the labelled sets under tests/data, see README "The matcher"):

1. The question is split into sentences, folded (case, æøå, punctuation), split into words,
   function words dropped and each word stemmed with the Norwegian Snowball stemmer. The
   sentences that ask (a question mark, "lurer på") carry the question; the other sentences are
   the story, whose words count less in the ranking.
2. Each word is looked up in a vocabulary built once from the topics' keywords, titles, example
   questions and texts: exactly, with a small edit distance for typos (rapidfuzz, OSA distance),
   as a part of a compound ("fergebillettene" -> "ferge" + "billett"), with a dialect ending
   removed and as a truncated word.
3. A topic's score is the sum, over the question's words, of the best term each word hits in that
   topic, weighted by where the term comes from (keyword > title > example > pledge text), by
   how telling it is (terms used by many topics count less) and by how rare the word is in
   everyday language (`bot.normalize.rarity`).
4. What the knowledge does not answer is declined, with three measured parts whose words all
   live in the knowledge files (`out_of_scope:`): subjects the area does not cover (a hidden
   decoy topic), cues of practical-information questions (timetables, customer service, which
   cable; weighed against cues of a policy question, `bot.lexicon.POLICY`), and whole questions
   that must be declined (a question nearer to one of them than to every topic's example
   questions is declined).
5. The best topic is answered only if its score clears an absolute threshold; a runner-up close
   to it makes the match ambiguous ("Mente du …?"). Greetings and thanks with nothing else are
   small talk.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from rapidfuzz.distance import OSA

from bot import messages
from bot.knowledge import KnowledgeBase, Topic, gc_paused
from bot.lexicon import (
    ASKING,
    COLLECTIVE,
    LANGUAGE_MARKERS,
    POLICY,
    QUESTION_STARTS,
    SMALLTALK,
    STOPWORDS,
)
from bot.normalize import (
    everyday_words,
    fold,
    folded_sentences,
    is_word,
    rarity,
    stem,
    words,
    zipf,
)

_T = TypeVar("_T")

MAX_WORDS = 120
"""Only the first words of a very long message are read."""


class MatchKind(StrEnum):
    TOPIC = "topic"
    SMALLTALK = "smalltalk"
    NONE = "none"


@dataclass(frozen=True)
class Settings:
    """Weights and thresholds; defaults are the values measured best on the tuning sets."""

    w_keyword: float = 1.0
    w_title: float = 1.0
    w_example: float = 0.6
    w_pledge: float = 0.45
    w_text: float = 0.3
    w_phrase: float = 0.5  # bonus when all words of a multi-word keyword are present
    w_phrase_part: float = 0.5  # a word of a multi-word keyword on its own counts this much
    idf_power: float = 0.4
    rarity_power: float = 0.75  # a term's weight times rarity ** this (common words weigh less)
    df_text: float = 0.1
    sim_edit1: float = 0.85
    sim_edit2: float = 0.7
    sim_compound_head: float = 0.8
    sim_compound_modifier: float = 0.8
    sim_prefix: float = 0.7
    w_broad_rank: float = 0.4  # a broad keyword's weight in the ranking (full as evidence)
    sim_suffix: float = 0.95  # a known word plus an inflection or dialect ending
    w_story: float = 0.5  # a word only in the story (not in the asking sentence), in the ranking
    threshold: float = 0.8  # minimal score for an answer
    decoy_ratio: float = 0.8  # an uncovered subject this strong against the best topic -> decline
    practical_min: float = 0.9  # practical cues this strong (less policy cues) ...
    practical_ratio: float = 0.0  # ... and this strong against the best topic -> decline
    w_policy: float = 0.5  # how much one policy cue offsets one practical cue
    knn_min: float = 0.35  # a must-decline example at least this similar ...
    knn_ratio: float = 1.0  # ... and this much more similar than every topic example -> decline
    ambiguity_ratio: float = 0.6  # runner-up within this ratio of the best -> ambiguous
    alternative_ratio: float = 0.4  # topics within this ratio of the best are alternatives
    max_alternatives: int = 3
    decided_decline: float = 0.9  # this near a must-decline example: an admin's decision
    w_story_cover: float = 0.5  # a story word's weight in the coverage
    decoy_cover: float = 0.8  # uncovered subjects cover this share of what the best topic covers
    cover_min: float = 0.5  # no policy cue and the best topic explains less of the question ...
    cover_evidence: float = 1.5  # ... with less evidence than this -> decline
    cover_statements: bool = False  # ... also for a message without a question mark
    short_cover: float = 0.8  # the best topic explains this much of the question ...
    short_threshold: float = 0.5  # ... then this much evidence is enough for an answer


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


@dataclass(slots=True)
class Evidence:
    """What the matcher saw in a question, before deciding (for `distriktsbot match` and tests)."""

    totals: dict[int, float]  # evidence per topic index
    ranks: dict[int, float]  # rank score per topic index
    has_content: bool
    smalltalk: bool
    subjects: float  # uncovered subjects (the decoy)
    practical: float  # practical-information cues
    policy: float  # policy-question cues
    near_decline: float  # similarity to the nearest must-decline example (0: not needed)
    near_topic: float  # similarity to the nearest example of the best topic (0: not needed)
    collective: float = 0.0  # cues of a question asked on behalf of many (lexicon.COLLECTIVE)
    covered: dict[int, float] = field(default_factory=dict)  # weight of the words hitting a topic
    content_weight: float = 0.0  # weight of all content words (by rarity, story words less)
    frame_weight: float = 0.0  # weight of the words that hit the area's broad keywords
    asks: bool = True  # a sentence ends with "?" or starts with a question word (else: a
    # statement, a complaint)

    def cover(self, ti: int) -> float:
        """The share of the question's words (by rarity, story words at a lower weight) that
        hit topic `ti`; words that hit a broad keyword of the area count for every topic."""
        if not self.content_weight:
            return 0.0
        return (self.covered.get(ti, 0.0) + self.frame_weight) / self.content_weight

    @property
    def coverage(self) -> dict[int, float]:
        return {ti: self.cover(ti) for ti in self.covered}


@dataclass(slots=True)
class _Term:
    text: str
    # topic index, source weight (in the order the topics were indexed); a tuple, not a dict:
    # there are 200,000 terms at 10,000 topics
    postings: tuple[tuple[int, float], ...] = ()
    broad: bool = False  # a broad keyword of some topic: counts little in the ranking
    idf: float = 1.0


class _WordInfo(NamedTuple):
    """Everything the per-question path needs to know about one folded word, computed once."""

    stem: str
    content: bool  # not a function word, small talk or a single letter
    # _SMALLTALK, _POLICY (a single-word policy cue, bot.lexicon.POLICY), _COLLECTIVE (a
    # single-word collective cue), _PAIR (the first word of a two-word policy or collective
    # cue), _CUE (the first word of a multi-word practical cue)
    flags: int
    weight: float  # rarity of the stem: the word's weight in the question vector
    # for content words only:
    hits: tuple[tuple[int, float], ...] = ()  # vocabulary terms hit, with a similarity
    contributions: tuple[tuple[int, float, float], ...] = ()  # topic, evidence, rank (best term)
    example_hits: tuple[tuple[str, float], ...] = ()  # stems of example questions, with a weight
    rarity: float = 0.0  # bot.normalize.rarity of the word (0 for a function word), for coverage
    frame: bool = False  # hits a broad keyword ("distriktene", "rural areas"): the area's frame


class _Word(NamedTuple):
    text: str  # folded
    weight: float  # 1 in an asking sentence, Settings.w_story in the story
    info: _WordInfo


class _Reading(NamedTuple):
    """A question as read: its content words, its sentences and the cues found in them."""

    content: list[_Word]
    parts: list[list[str]]  # every sentence's folded words (function words too)
    weights: list[float]  # every sentence's weight (story or asking)
    smalltalk: bool
    policy: float
    collective: float
    practical_runs: float  # multi-word practical cues found
    plain: dict[str, float]  # stems of words that hit no example term, with their weight
    asks: bool  # a sentence ends with a question mark or starts with a question word


class Matcher:
    def __init__(self, kb: KnowledgeBase, settings: Settings | None = None) -> None:
        # the index is millions of small objects that live as long as the matcher: the cyclic
        # garbage collector, run again and again while they are made, would scan them all each
        # time (a third of the build at 10,000 topics); it has nothing to collect here
        with gc_paused():
            self._texts = _TextMemo()
            self._build(kb, settings)
            del self._texts

    def _build(self, kb: KnowledgeBase, settings: Settings | None) -> None:
        self.kb = kb
        self.settings = s = settings or Settings()
        self.topic_ids = [t.id for t in kb.topics]
        self._terms: list[_Term] = []
        # per term, while the index is built: topic index -> source weight (`_Term.postings`),
        # and -> the term's share in the topic's df
        self._postings: list[dict[int, float]] = []
        self._spreads: list[dict[int, float]] = []
        self._term_index: dict[str, int] = {}
        # topic, term ids, weight in the evidence, weight in the ranking
        self._phrases: list[tuple[int, tuple[int, ...], float, float]] = []
        for ti, topic in enumerate(kb.topics):
            self._index_topic(ti, topic)
        oos = kb.out_of_scope
        # subjects the knowledge does not cover and single-word practical cues are two more
        # (hidden) topics, found by the same lookup (typos, compounds, endings) as the real ones
        self._decoy = len(kb.topics)
        self._practical = self._decoy + 1
        # a subject of several words ("psykisk helse", "oil fund") counts only as a whole
        self._add(self._decoy, oos.subjects, s.w_keyword, phrases=True, whole_phrases=True)
        runs = [_cue_run(c) for c in oos.practical]
        single = [c for c, run in zip(oos.practical, runs, strict=True) if len(run) == 1]
        self._add(self._practical, single, s.w_keyword)
        # multi-word practical cues match as a run of words, function words included
        # (first stem -> the runs that start with it, as lists with None for "any one word")
        self._cue_runs: dict[str, list[list[str | None]]] = defaultdict(list)
        for run in dict.fromkeys(runs):  # cues that stem alike count once
            if len(run) > 1 and run[0] != ANY:
                self._cue_runs[run[0]].append([None if r == ANY else r for r in run])
        n = max(len(kb.topics), 1)
        for term, spread in zip(self._terms, self._spreads, strict=True):
            # how many topics use the term as a keyword or title (examples and prose count a
            # little), so a word that many topics' prose mentions stays telling where it is a
            # keyword
            df = sum(v for ti, v in spread.items() if ti < self._decoy)
            term.idf = (1.0 / max(df, 1.0)) ** s.idf_power if n > 1 else 1.0
            if s.rarity_power:
                term.idf *= rarity(term.text) ** s.rarity_power
        del self._spreads
        self._vocab = [t.text for t in self._terms]
        self._sorted_vocab = sorted(self._vocab)
        # a stem is the start of its word: a word can only stem to a term if it starts with the
        # term's first five letters, or is a term of three or four letters followed by more
        self._starts = frozenset(t[:5] if len(t) >= 5 else t for t in self._vocab)
        # typos: every term of five letters or more under itself and each one-letter deletion
        # (a symmetric-delete index: a question word's own deletions find the terms within one
        # edit, and most within two, without scanning the vocabulary)
        # (only for the terms of keywords, titles, examples and the out_of_scope lists: a typo
        # of a word that only the pledge or the explanation uses is not worth the memory)
        eligible: list[tuple[int, str]] = []
        for tid, (term, postings) in enumerate(zip(self._terms, self._postings, strict=True)):
            term.postings = tuple(postings.items())
            if len(term.text) >= 5 and max(postings.values(), default=0.0) > s.w_pledge:
                eligible.append((tid, term.text))
        del self._postings
        self._typos = _TypoIndex(eligible, self._vocab)
        self._phrases_by_term: dict[int, list[int]] = defaultdict(list)
        for pi, (_, term_ids, _, _) in enumerate(self._phrases):
            for tid in term_ids:
                self._phrases_by_term[tid].append(pi)
        # example questions, one vector each: the topics' and the must-decline ones
        # (unit vectors: stem -> weight / norm). Must-decline examples are few and searched
        # through postings; a topic's examples only when the topic is a candidate.
        self._example_stems: set[str] = set()
        self._decline_norms: list[float] = []
        self._decline_postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        # (per topic: stem -> example index, weight, example index, weight, ... in one tuple)
        self._topic_postings: list[dict[str, tuple[float, ...]]] = [{} for _ in kb.topics]
        self._topic_example_count = [0 for _ in kb.topics]
        # a topic's keywords and title count as (short) examples of it too: a question is
        # nearer to a must-decline example only if it shares more with it than a topic's words
        for ti, topic in enumerate(kb.topics):
            for text in (*topic.examples, *topic.keywords, topic.title):
                self._index_example(ti, text)
        for text in oos.examples:
            self._index_example(-1, text)
        # every word the knowledge itself uses, and the function words, are looked up once
        # here; the cache below holds the other words voters use
        # (in this order, up to _PRECOMPUTED words: a very large knowledge leaves the rest of its
        # prose to the cache)
        self._known: dict[str, _WordInfo] = {}
        groups = [
            STOPWORDS | SMALLTALK | ASKING | POLICY | COLLECTIVE,
            {
                w
                for t in kb.topics
                for text in (t.title, *t.keywords)
                for w in self._texts.words(text)
            },
            everyday_words(),
            {w for text in _knowledge_texts(kb) for w in self._texts.words(text)},
        ]
        for group in groups:
            for word in sorted(group - self._known.keys()):
                if len(self._known) >= _PRECOMPUTED:
                    break
                if " " not in word:
                    self._known[word] = self._word_uncached(word)
        self._cached = lru_cache(maxsize=100_000)(self._word_uncached)

    def clear_cache(self) -> None:
        """Forget the words looked up so far (not the index); for the cold benchmark."""
        self._cached.cache_clear()

    def _lookup(self, word: str) -> _WordInfo:
        """The record of a folded word: from the index, or computed once and cached."""
        return self._known.get(word) or self._cached(word)

    # --- index -------------------------------------------------------------------------------

    def _term_id(self, text: str) -> int:
        tid = self._term_index.get(text)
        if tid is None:
            tid = len(self._terms)
            self._term_index[text] = tid
            self._terms.append(_Term(text))
            self._postings.append({})
            self._spreads.append({})
        return tid

    def _add(
        self,
        ti: int,
        texts: Iterable[str],
        weight: float,
        phrases: bool = False,
        broad: bool = False,
        whole_phrases: bool = False,
    ) -> None:
        """Index texts for topic `ti`. With `phrases`, a multi-word text also counts when all of
        its words are present; with `whole_phrases` only then (its words alone count nothing)."""
        s = self.settings
        spread = 1.0 if phrases else s.df_text
        phrase_part = 0.0 if whole_phrases else s.w_phrase_part
        content_stems, term_index, terms, postings_of, spreads = (
            self._texts.content_stems,
            self._term_index,
            self._terms,
            self._postings,
            self._spreads,
        )
        for text in texts:
            stems = content_stems(text)
            ids = []
            part = weight * (phrase_part if phrases and len(stems) > 1 else 1.0)
            for st in stems:
                tid = term_index.get(st)
                if tid is None:
                    tid = self._term_id(st)
                ids.append(tid)
                # (as max(old, new): a weight of 0 is entered too, and an equal one kept)
                postings = postings_of[tid]
                old = postings.get(ti)
                if old is None or part > old:
                    postings[ti] = part
                shares = spreads[tid]
                old = shares.get(ti)
                if old is None or spread > old:
                    shares[ti] = spread
                if broad:
                    terms[tid].broad = True
            if phrases and len(set(ids)) > 1:
                whole = weight / s.w_phrase if whole_phrases else weight
                rank = whole * s.w_broad_rank if broad else whole
                self._phrases.append((ti, tuple(dict.fromkeys(ids)), whole, rank))

    def _index_topic(self, ti: int, topic: Topic) -> None:
        s = self.settings
        self._add(ti, topic.keywords, s.w_keyword, phrases=True)
        self._add(ti, topic.broad_keywords, s.w_keyword, phrases=True, broad=True)
        self._add(ti, [topic.title, topic.id.replace("-", " ")], s.w_title, phrases=True)
        self._add(ti, topic.examples, s.w_example)
        self._add(ti, [topic.pledge], s.w_pledge)
        texts = [f.text for f in topic.facts]
        if topic.explanation:
            texts.append(topic.explanation)
        self._add(ti, texts, s.w_text)

    def _index_example(self, owner: int, text: str) -> None:
        vector = self._texts.example_vector(text)
        if not vector:
            return
        norm = math.sqrt(sum(w * w for w in vector.values()))
        unit = {st: w / norm for st, w in vector.items()}
        self._example_stems.update(unit)
        if owner >= 0:
            ei = self._topic_example_count[owner]
            self._topic_example_count[owner] += 1
            for st, w in unit.items():
                postings = self._topic_postings[owner]
                postings[st] = (*postings.get(st, ()), ei, w)
            return
        ei = len(self._decline_norms)
        self._decline_norms.append(norm)
        for st, w in unit.items():
            self._decline_postings[st].append((ei, w))

    # --- per question ------------------------------------------------------------------------

    def _word_uncached(self, word: str) -> _WordInfo:
        """Everything the per-question path needs to know about one (folded) word, once."""
        st = stem(word)
        smalltalk = word in SMALLTALK
        content = (
            not smalltalk
            and word not in STOPWORDS
            and word not in _FOREIGN_FUNCTION_WORDS
            and len(word) > 1
        )
        flags = (
            st,
            content,
            (_SMALLTALK if smalltalk else 0)
            | (_POLICY if word in POLICY else 0)
            | (_COLLECTIVE if word in COLLECTIVE else 0)
            | (_PAIR if word in _PAIR_STARTS else 0)
            | (_CUE if st in self._cue_runs else 0),
            rarity(st),
        )
        if not content:
            return _WordInfo(*flags)
        hits = self._hits(word)
        weight = rarity(word)
        best: dict[int, tuple[float, float]] = {}
        example_hits: list[tuple[str, float]] = []
        for tid, sim, itself in hits:
            term = self._terms[tid]
            if term.text in self._example_stems:
                example_hits.append((term.text, sim * weight))
            for ti, source_weight in term.postings:
                # an uncovered subject or a practical cue counts only for the word itself:
                # "politikerne" is not "politi", "bobilen" not "mobil"
                if not source_weight or (ti >= self._decoy and not itself):
                    continue
                value = sim * source_weight * term.idf
                rank = value * self.settings.w_broad_rank if term.broad else value
                if rank > best.get(ti, (0.0, 0.0))[1]:
                    best[ti] = (value, rank)
        return _WordInfo(
            *flags,
            hits=tuple((tid, sim) for tid, sim, _ in hits),
            contributions=tuple((ti, value, rank) for ti, (value, rank) in best.items()),
            example_hits=tuple(example_hits),
            # another language's function words ("dla", "und", "hvad") say nothing about the
            # subject
            rarity=0.0 if word in _FOREIGN_FUNCTION_WORDS else weight,
            frame=any(self._terms[tid].broad for tid, _, _ in hits),
        )

    def _may_stem_to_term(self, part: str) -> bool:
        starts = self._starts
        return part[:5] in starts or part[:4] in starts or part[:3] in starts

    def _near_spellings(self, st: str, max_edits: int) -> list[tuple[str, int]]:
        """Terms of five letters or more within `max_edits` edits (OSA distance) of a stem:
        those that share a one-letter deletion with it (or are it, or one of its deletions),
        found in the deletion index. That is every term one edit away, and the terms two edits
        away that differ by a missing and an extra letter or by an æ written as a or e."""
        out = []
        n = len(st)
        found = self._typos.terms((st, *_deletions(st)))
        for text in found:
            if text != st and abs(len(text) - n) <= max_edits:
                dist = OSA.distance(st, text, score_cutoff=max_edits)
                if dist <= max_edits:
                    out.append((text, dist))
        return out

    def _hits(self, word: str) -> tuple[tuple[int, float, bool], ...]:
        """Vocabulary terms a (folded) word hits, with a similarity in (0, 1] and whether the hit
        is the word itself (exactly, with an ending, or as the head of a compound) rather than a
        near spelling, a truncation or the first part of a compound."""
        s = self.settings
        st = stem(word)
        exact = self._term_index.get(st)
        if exact is None and word != st:
            exact = self._term_index.get(word)
        if exact is not None:
            return ((exact, 1.0, True),)
        hits: dict[int, float] = {}
        strict: set[int] = set()

        def hit(text: str, sim: float, itself: bool = False) -> None:
            tid = self._term_index.get(text)
            if tid is not None:
                if sim > hits.get(tid, 0.0):
                    hits[tid] = sim
                if itself:
                    strict.add(tid)

        n = len(st)
        # an everyday word ("ferie", "helsestasjonen") is taken as written: not a misspelling,
        # a dialect form or a compound of words of the knowledge
        if zipf(word) >= _EVERYDAY:
            return tuple((tid, sim, tid in strict) for tid, sim in hits.items())
        for ending in _ENDINGS_BY_LAST.get(word[-1], ()):
            if word.endswith(ending) and len(word) - len(ending) >= 4:
                base = word[: -len(ending)]
                hit(base, s.sim_suffix, True)
                hit(stem(base), s.sim_suffix, True)
        if hits:  # a known word with an ending the stemmer does not know ("bondan")
            return tuple((tid, sim, tid in strict) for tid, sim in hits.items())
        if n >= 5:
            # a word of four letters or fewer, one letter changed, is too often another word
            for text, dist in self._near_spellings(st, 1 if n < 8 else 2):
                hit(text, s.sim_edit1 if dist <= 1 else s.sim_edit2)
        if len(word) >= 7 and not hits:
            index = self._term_index
            # a stem is the start of its word, shorter by at most a long ending: the first part
            # of a compound can only stem to a term that starts the word
            first = [False] * len(word)  # first[i]: word[:i] may stem to a term
            for k in range(3, len(word) - 3):
                if word[:k] in index:
                    for i in range(k, min(k + _LONGEST_ENDING + 1, len(word))):
                        first[i] = True
            term_starts = self._starts
            for i in range(4, len(word) - 3):
                modifier, head = word[:i], word[i:]
                # only a last part that starts as some term starts is stemmed and looked up
                hs = (
                    stem(head)
                    if head[:5] in term_starts or head[:4] in term_starts or head[:3] in term_starts
                    else ""
                )
                if len(hs) >= 4 and hs in index:
                    hit(hs, s.sim_compound_head, True)
                if not first[i]:
                    continue
                # the first part of a compound is the word itself only when the rest is a word
                # too ("mobil|laderen", not "politi|kerne")
                whole = None
                for mod in (modifier, modifier[:-1] if modifier[-1] in "se" else ""):
                    if len(mod) >= 4:
                        for part in (mod, stem(mod)):
                            if part in index:
                                if whole is None:
                                    whole = hs in index or is_word(head) or is_word(stem(head))
                                hit(part, s.sim_compound_modifier, whole)
        if n >= 5 and not hits:
            lo = bisect.bisect_left(self._sorted_vocab, st)
            for text in self._sorted_vocab[lo : lo + 8]:
                if not text.startswith(st):
                    break
                if n >= 0.7 * len(text):
                    hit(text, s.sim_prefix)
        return tuple((tid, sim, tid in strict) for tid, sim in hits.items())

    def _read(self, text: str) -> _Reading:
        """Read a question once: its content words with their weight (the asking sentence's
        words weigh more than the story's), the cues of a policy, collective or practical
        question, and the words no example term covers (for the question vector)."""
        known, cached = self._known.get, self._cached
        read = folded_sentences(text)
        if len(read) > 1:
            asking = [ends or not ASKING.isdisjoint(sent) for sent, ends in read]
            story = self.settings.w_story if any(asking) else 1.0
            sent_weights = [1.0 if asks else story for asks in asking]
        else:
            sent_weights = [1.0] * len(read)
        parts: list[list[str]] = []
        weights: dict[str, float] = {}
        infos_of: dict[str, _WordInfo] = {}
        plain: dict[str, float] = {}
        seen: set[str] = set()
        smalltalk = False
        policy = collective = practical = 0.0
        count = 0
        joins = False
        for (sent, _), sw in zip(read, sent_weights, strict=True):
            if count + len(sent) > MAX_WORDS:
                sent = sent[: max(0, MAX_WORDS - count)]
            count += len(sent)
            parts.append(sent)
            pairs = cues = False
            contents = 0
            for word in sent:
                info = known(word) or cached(word)
                st, is_content, flags, weight, _, _, example_hits, _, _ = info
                if is_content:
                    contents += 1
                    if sw > weights.get(word, 0.0):
                        weights[word] = sw
                        infos_of[word] = info
                if flags:
                    if flags & _SMALLTALK:
                        smalltalk = True
                    if flags & _POLICY and word not in seen:
                        seen.add(word)
                        policy += 1.0
                    if flags & _COLLECTIVE:
                        collective += 1.0
                    if flags & _PAIR:
                        pairs = True
                    if flags & _CUE:
                        cues = True
                if not example_hits:
                    # function words take part in the question vector ("hvordan … jeg" vs
                    # "hva vil dere"), and every word counts in its length
                    if sw != 1.0:
                        weight *= sw
                    if weight > plain.get(st, 0.0):
                        plain[st] = weight
            if pairs:
                for pair in itertools.pairwise(sent):
                    if pair in _POLICY_PAIRS:
                        policy += 1.0
                    if pair in _COLLECTIVE_PAIRS:
                        collective += 1.0
            if cues:
                stems = [(known(w) or cached(w)).stem for w in sent]
                practical += sw * self._cue_runs_found(stems)
            joins = joins or contents > 1
        if joins:
            # a compound written in two words ("hurtig ladere", "industri politikk") is read as
            # the one word the knowledge has
            joined_parts: set[str] = set()
            for sent in parts:
                for a, b in itertools.pairwise(sent):
                    if a in weights and b in weights and len(a) > 2 and len(b) > 2:
                        joined = a + b
                        if joined in self._term_index or (
                            self._may_stem_to_term(joined) and stem(joined) in self._term_index
                        ):
                            weights[joined] = max(weights[a], weights[b])
                            infos_of[joined] = self._lookup(joined)
                            joined_parts.update((a, b))
            for part in joined_parts:
                del weights[part]
        content = [_Word(w, weight, infos_of[w]) for w, weight in weights.items()]
        return _Reading(
            content,
            parts,
            sent_weights,
            smalltalk,
            policy,
            collective,
            practical,
            plain,
            any(ends or sent[0] in QUESTION_STARTS for sent, ends in read),
        )

    def evidence(self, text: str) -> Evidence:
        """Evidence and rank score per topic, and the evidence for declining.

        Evidence decides whether a topic is answered at all; the rank score decides which topic.
        They differ for broad keywords, which count fully as evidence but little in the ranking
        (a specific topic wins over the overview when both match), and for the story's words,
        which count less in the ranking than the words of the sentence that asks."""
        s = self.settings
        reading = self._read(text)
        content = reading.content
        totals: dict[int, float] = defaultdict(float)
        ranks: dict[int, float] = defaultdict(float)
        matched_terms: dict[int, float] = {}
        in_examples: list[tuple[_WordInfo, float]] = []  # words that hit an example term
        covered: dict[int, float] = defaultdict(float)
        content_weight = frame_weight = 0.0
        for _, weight, info in content:
            w_cover = info.rarity * (1.0 if weight >= 1.0 else s.w_story_cover)
            content_weight += w_cover
            if info.frame:  # the area's frame covers a question for every topic
                frame_weight += w_cover
                w_cover = 0.0
            for tid, sim in info.hits:
                if sim > matched_terms.get(tid, 0.0):
                    matched_terms[tid] = sim
            if info.example_hits:
                in_examples.append((info, weight))
            for ti, value, rank in info.contributions:
                totals[ti] += value
                ranks[ti] += rank * weight
                covered[ti] += w_cover
        if len(matched_terms) > 1:
            # a phrase is complete when each of its (distinct) terms was matched
            found: dict[int, int] = {}
            for tid in matched_terms:
                for pi in self._phrases_by_term.get(tid, ()):
                    found[pi] = found.get(pi, 0) + 1
            for pi, count in found.items():
                ti, term_ids, weight, rank_weight = self._phrases[pi]
                if count == len(term_ids):
                    sim = min(matched_terms[t] for t in term_ids) * s.w_phrase
                    totals[ti] += weight * sim
                    ranks[ti] += rank_weight * sim
        practical = ranks.pop(self._practical, 0.0) + reading.practical_runs
        subjects = ranks.pop(self._decoy, 0.0)
        totals.pop(self._practical, None)
        totals.pop(self._decoy, None)
        # a question the threshold declines anyway needs no nearest must-decline example; one
        # that is answered is compared with the examples and keywords of its best topic
        best, top = -1, 0.0
        for ti, rank in ranks.items():
            if rank > top or (rank == top and ti < best):
                best, top = ti, rank
        near_decline = near_topic = 0.0
        if best >= 0 and totals.get(best, 0.0) >= s.threshold:
            query, qnorm = self._query(in_examples, reading.plain)
            near_decline = self._near_decline(query, qnorm)
            if near_decline >= s.knn_min:
                near_topic = self._near_topic(best, query, qnorm)
        return Evidence(
            totals,
            ranks,
            bool(content),
            reading.smalltalk,
            subjects,
            practical,
            reading.policy,
            near_decline,
            near_topic,
            reading.collective,
            covered,
            content_weight,
            frame_weight,
            reading.asks,
        )

    def _cue_runs_found(self, sent: list[str]) -> int:
        """How many multi-word practical cues a sentence (as stems) has."""
        found = 0
        for i, st in enumerate(sent):
            for run in self._cue_runs.get(st, ()):
                part = sent[i : i + len(run)]
                if part == run or (
                    len(part) == len(run)
                    and None in run
                    and all(r is None or r == p for r, p in zip(run, part, strict=True))
                ):
                    found += 1
        return found

    def _query(
        self, in_examples: Sequence[tuple[_WordInfo, float]], plain: dict[str, float]
    ) -> tuple[dict[str, float], float]:
        """The question as a vector of example stems, and its norm (which counts every word,
        also those no example has)."""
        query: dict[str, float] = {}
        for info, weight in in_examples:
            for st, w in info.example_hits:
                w *= weight
                if w > query.get(st, 0.0):
                    query[st] = w
        norm = sum(w * w for w in query.values())
        examples = self._example_stems
        for st, w in plain.items():
            if st not in query:
                if st in examples:
                    query[st] = w
                norm += w * w
        return query, math.sqrt(norm)

    def _near_decline(self, query: dict[str, float], qnorm: float) -> float:
        """Cosine similarity of the question to the nearest must-decline example."""
        if not qnorm:
            return 0.0
        dots: dict[int, float] = defaultdict(float)
        postings = self._decline_postings
        for st, wq in query.items():
            for ei, we in postings.get(st, ()):
                dots[ei] += wq * we
        return max(dots.values(), default=0.0) / qnorm

    def _near_topic(self, ti: int, query: dict[str, float], qnorm: float) -> float:
        """Cosine similarity of the question to the nearest example (or keyword) of a topic."""
        postings = self._topic_postings[ti]
        dots: dict[int, float] = defaultdict(float)
        for st, wq in query.items():
            entry = postings.get(st)
            if entry:
                for k in range(0, len(entry), 2):
                    dots[int(entry[k])] += wq * entry[k + 1]
        return max(dots.values(), default=0.0) / qnorm if qnorm else 0.0

    def scores(self, text: str) -> tuple[dict[int, float], dict[int, float], bool, bool]:
        """Evidence and rank score per topic, whether there were content words, and small talk."""
        ev = self.evidence(text)
        return ev.totals, ev.ranks, ev.has_content, ev.smalltalk

    def match(self, text: str) -> Match:
        return self.decide(self.evidence(text))

    def decide(self, ev: Evidence) -> Match:
        s = self.settings
        # only the best and the alternatives are needed: a partial sort
        if len(ev.ranks) <= 16:
            ranked = sorted(ev.ranks.items(), key=_by_rank)[: 1 + s.max_alternatives]
        else:
            ranked = heapq.nsmallest(1 + s.max_alternatives, ev.ranks.items(), key=_by_rank)
        evidence = ev.totals.get(ranked[0][0], 0.0) if ranked else 0.0
        top = ranked[0][1] if ranked else 0.0
        if ev.subjects and ev.subjects >= top * s.decoy_ratio:
            return Match(MatchKind.NONE, None, 0.0)
        cover = ev.cover(ranked[0][0]) if ranked else 0.0
        if ev.subjects and ev.cover(self._decoy) >= cover * s.decoy_cover:
            return Match(MatchKind.NONE, None, 0.0)
        practical = ev.practical - s.w_policy * ev.policy
        if practical >= s.practical_min and practical >= top * s.practical_ratio:
            return Match(MatchKind.NONE, None, 0.0)
        if ev.near_decline >= s.decided_decline and ev.near_decline >= ev.near_topic:
            # (nearly) word for word a question an admin marked "not our policy": that decision
            # stands, also against a topic's keyword that says the same
            return Match(MatchKind.NONE, None, 0.0, out_of_scope=True)
        if ev.near_decline >= s.knn_min and ev.near_decline > ev.near_topic * s.knn_ratio:
            return Match(MatchKind.NONE, None, 0.0)
        if (
            ranked
            and (ev.asks or s.cover_statements)
            and not ev.policy
            and not ev.collective
            and cover < s.cover_min
            and evidence < s.cover_evidence
        ):
            return Match(MatchKind.NONE, None, round(evidence, 3))
        short = cover >= s.short_cover and evidence >= s.short_threshold
        if not ranked or (evidence < s.threshold and not short):
            kind = MatchKind.SMALLTALK if ev.smalltalk and not ranked else MatchKind.NONE
            if ev.smalltalk and not ev.has_content:
                kind = MatchKind.SMALLTALK
            return Match(kind, None, round(evidence, 3))
        best_ti, best = ranked[0]
        alternatives = tuple(
            (self.topic_ids[ti], round(sc, 3))
            for ti, sc in ranked[1 : 1 + s.max_alternatives]
            if sc >= best * s.alternative_ratio and sc >= s.threshold * 0.5
        )
        # split evidence: the runner-up, itself offered as an alternative, is nearly as strong
        ambiguous = bool(alternatives) and ranked[1][1] >= best * s.ambiguity_ratio
        return Match(
            MatchKind.TOPIC, self.topic_ids[best_ti], round(best, 3), alternatives, ambiguous
        )


def _by_rank(item: tuple[int, float]) -> tuple[float, int]:
    """Best rank first, then the topic listed first."""
    return -item[1], item[0]


def keyword_collisions(kb: KnowledgeBase) -> list[str]:
    """Topic keywords that are also an out-of-scope subject or practical cue (as the matcher
    sees them: folded and stemmed), one line each, for `distriktsbot check` to warn the admins
    about (in Norwegian, `messages.KEYWORD_COLLISION`)."""

    def key(text: str) -> tuple[str, ...]:
        return tuple(stem(w) for w in words(text))

    out: list[str] = []
    for area in kb.areas:
        cues = {key(c): ("subjects", c) for c in area.out_of_scope.subjects}
        cues.update({key(c): ("practical", c) for c in area.out_of_scope.practical})
        cues.pop((), None)
        for topic in kb.topics:
            for kw in (*topic.keywords, *topic.broad_keywords):
                hit = cues.get(key(kw))
                if hit is not None:
                    out.append(
                        messages.KEYWORD_COLLISION.format(
                            topic=topic.id, keyword=kw, kind=hit[0], cue=hit[1], file=area.source
                        )
                    )
    return out


_FOREIGN_FUNCTION_WORDS = frozenset(
    fold(w) for lang, markers in LANGUAGE_MARKERS.items() if lang != "no" for w in markers
) - {"hemma", "tryggt", "people"}  # (markers that say what a question is about)
_POLICY_PAIRS = frozenset(tuple(cue.split()) for cue in POLICY if " " in cue)
_COLLECTIVE_PAIRS = frozenset(tuple(cue.split()) for cue in COLLECTIVE if " " in cue)
_NOT_CONTENT = STOPWORDS | SMALLTALK | _FOREIGN_FUNCTION_WORDS  # (as `_content_stems`)
_PAIR_STARTS = frozenset(a for a, _ in (*_POLICY_PAIRS, *_COLLECTIVE_PAIRS))
_SMALLTALK, _POLICY, _COLLECTIVE, _PAIR, _CUE = 1, 2, 4, 8, 16


_PRECOMPUTED = 60_000
"""At most this many word records are built with the index (the shipped knowledge and wordfreq's
everyday words need about 27,000)."""

_LONGEST_ENDING = 8
"""No ending the stemmer removes is longer (Snowball Norwegian: "hetenes" and the like)."""

_EVERYDAY = 3.0
"""A word at least this common in everyday Norwegian (Zipf frequency) is taken as written, never
as a misspelling of a word of the knowledge."""

# Inflection and dialect endings the stemmer does not know (nynorsk -ane/-ar, Trønder/northern
# -an, -å), tried when a word is not in the vocabulary as it stands.
_ENDINGS = (
    "arane",
    "erane",
    "ane",
    "ene",
    "arne",
    "erne",
    "ern",
    "ar",
    "an",
    "en",
    "et",
    "er",
    "a",
    "e",
)


_ENDINGS_BY_LAST = {
    last: tuple(e for e in _ENDINGS if e.endswith(last)) for last in {e[-1] for e in _ENDINGS}
}

ANY = "\x00"
"""In a practical cue, "…" (or "*") stands for any one word."""


def _cue_run(cue: str) -> tuple[str, ...]:
    """A practical cue as the stems of its words, ANY for a wildcard."""
    out: list[str] = []
    for part in cue.replace("…", " … ").replace("*", " … ").split():
        if part == "…":
            out.append(ANY)
        else:
            out.extend(stem(w) for w in words(part))
    return tuple(out)


_PACK_FROM = 200_000
"""A typo index of about this many entries or more is packed in a numpy array (1,000 topics:
~320,000 entries); a smaller one (the shipped knowledge: ~10,500) is a dict."""


class _TypoIndex:
    """The terms under each of their variants (`_variants`: spellings and one-letter deletions),
    for the symmetric-delete lookup of near spellings.

    Small: a dict, variant -> the term's text, or a tuple of the texts of the terms that share
    it. Large: one 64-bit number per variant, its hash over the term's id, sorted (numpy; a dict
    of 3.4 million variants at 10,000 topics is 320 MB, this 27 MB); a variant is found by
    bisection, and each term found is checked to have that variant (two variants may share a
    hash). Either way `terms` gives the same texts in the same order."""

    __slots__ = ("_bits", "_dict", "_mask", "_packed", "_texts")

    def __init__(self, eligible: list[tuple[int, str]], texts: list[str]) -> None:
        self._texts = texts  # term id -> text
        self._dict: dict[str, str | tuple[str, ...]] | None = None
        self._packed: Any = None  # numpy array of uint64
        self._bits = max(1, len(texts).bit_length())  # a term id's bits
        self._mask = (1 << (64 - self._bits)) - 1  # a hash's bits
        size = sum((len(t) + 1) * (3 if "ae" in t else 1) for _, t in eligible)
        if size < _PACK_FROM:
            self._dict = _variant_dict(eligible)
        else:
            self._packed = _variant_array(eligible, self._bits, self._mask)

    def terms(self, variants: Sequence[str]) -> set[str]:
        """The texts of the terms under any of `variants` (inserted in the order of the
        variants, then of the vocabulary: a set's order follows it)."""
        found: set[str] = set()
        if self._dict is not None:
            index = self._dict
            for v in variants:
                terms = index.get(v)
                if terms is None:
                    continue
                if isinstance(terms, str):
                    found.add(terms)
                else:
                    found.update(terms)
            return found
        import numpy as np

        packed, bits, mask, texts = self._packed, self._bits, self._mask, self._texts
        tid_mask = (1 << bits) - 1
        keys = np.array([(hash(v) & mask) << bits for v in variants], dtype=np.uint64)
        starts = packed.searchsorted(keys).tolist()
        ends = packed.searchsorted(keys | np.uint64(tid_mask), side="right").tolist()
        for v, start, end in zip(variants, starts, ends, strict=True):
            if start < end:
                for entry in packed[start:end].tolist():
                    text = texts[entry & tid_mask]
                    if _is_variant(v, text):
                        found.add(text)
        return found


def _variant_dict(eligible: list[tuple[int, str]]) -> dict[str, str | tuple[str, ...]]:
    """Variant -> the text of the term (one) or a tuple of them (several, in vocabulary order)."""
    index: dict[str, str | tuple[str, ...]] = {}
    for _, text in eligible:
        for variant in _variants(text):
            known = index.setdefault(variant, text)
            if known is text:  # (a term's variants are distinct: a new entry)
                continue
            index[variant] = (known, text) if isinstance(known, str) else (*known, text)
    return index


def _variant_array(eligible: list[tuple[int, str]], bits: int, mask: int) -> Any:
    """Every variant as its hash (masked) over the term id, sorted (a numpy uint64 array)."""
    import numpy as np

    chunks = []
    packed: list[int] = []
    for tid, text in eligible:
        packed.extend([(hash(v) & mask) << bits | tid for v in _variants(text)])
        if len(packed) >= 100_000:  # (a list of millions of ints: 40 bytes each)
            chunks.append(np.array(packed, dtype=np.uint64))
            packed.clear()
    chunks.append(np.array(packed, dtype=np.uint64))
    out = np.concatenate(chunks)
    out.sort()
    return out


def _spellings(text: str) -> tuple[str, ...]:
    """A term as written, and with æ written as a or e ("naringspolitikk" is a spelling, not
    two typos)."""
    if "ae" in text:
        return tuple(dict.fromkeys((text, text.replace("ae", "a"), text.replace("ae", "e"))))
    return (text,)


def _variants(text: str) -> set[str]:
    """A term's entries in the deletion index: its spellings and their one-letter deletions."""
    return {v for sp in _spellings(text) for v in (sp, *_deletions(sp))}


def _is_variant(variant: str, text: str) -> bool:
    """Whether `variant` is in `_variants(text)` (without building them)."""
    n = len(variant)
    for sp in _spellings(text):
        if len(sp) == n:
            if sp == variant:
                return True
        elif len(sp) == n + 1:
            # a deletion at the first difference gives every string a deletion can give
            i = 0
            while i < n and sp[i] == variant[i]:
                i += 1
            if sp[i + 1 :] == variant[i:]:
                return True
    return False


def _deletions(text: str) -> list[str]:
    """The text with one letter deleted, at every position."""
    return [text[:i] + text[i + 1 :] for i in range(len(text))]


def _knowledge_texts(kb: KnowledgeBase) -> Iterable[str]:
    """Every text of the knowledge the matcher indexes."""
    for topic in kb.topics:
        yield from (topic.title, topic.pledge, *topic.keywords, *topic.broad_keywords)
        yield from topic.examples
        yield from (f.text for f in topic.facts)
        if topic.explanation:
            yield topic.explanation
    oos = kb.out_of_scope
    yield from (*oos.examples, *oos.subjects, *oos.practical)


class _Memo(dict[str, _T]):
    """A dict that computes a missing value with `fn` (and keeps it)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str], _T]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: str) -> _T:
        value = self[key] = self.fn(key)
        return value


class _TextMemo:
    """The words and stems of the knowledge's texts while the index is built: a text is read
    once although several parts of the index use it (and the process-wide stem cache is too
    small for a large knowledge's vocabulary)."""

    __slots__ = ("_stems", "_words")

    def __init__(self) -> None:
        self._words: _Memo[list[str]] = _Memo(words)
        self._stems: _Memo[str] = _Memo(stem)

    def words(self, text: str) -> list[str]:
        return self._words[text]

    def content_stems(self, text: str) -> list[str]:
        """As `_content_stems`."""
        stems = self._stems
        return [stems[w] for w in self._words[text] if w not in _NOT_CONTENT]

    def example_vector(self, text: str) -> dict[str, float]:
        """As `_example_vector`."""
        stems = self._stems
        return {stems[w]: rarity(w) for w in self._words[text] if w not in SMALLTALK}


def _content_stems(text: str) -> list[str]:
    return [
        stem(w)
        for w in words(text)
        if w not in STOPWORDS and w not in SMALLTALK and w not in _FOREIGN_FUNCTION_WORDS
    ]


def _example_vector(text: str) -> dict[str, float]:
    """An example question as stems with a weight each (rare words weigh more)."""
    return {stem(w): rarity(w) for w in words(text) if w not in SMALLTALK}
