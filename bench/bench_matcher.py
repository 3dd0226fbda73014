"""Benchmark of the matcher: questions per second and p50/p99 latency, beside a naive baseline.

Run from the repository root:

    .venv/bin/python bench/bench_matcher.py            # the full run (a few minutes)
    .venv/bin/python bench/bench_matcher.py --quick    # a smoke run (~3 s)
    .venv/bin/python bench/bench_matcher.py --json bench/results.json

What is measured, per knowledge size (the shipped knowledge, then generated knowledge of 1,000
and 10,000 topics that includes the 12 real topics):

- the matcher: `Matcher(kb).match(text)` for every question, timed one by one with
  `time.perf_counter_ns`, in two cache states:
  * cold: the caches of the per-question path are emptied before every question (the
    matcher's per-word `_lookup` LRU cache and the process-wide `bot.normalize.stem` and
    `bot.normalize.rarity` LRU caches), so
    every word is looked up as if the process had never seen it; the clearing is not timed;
  * warm: a second pass over the same questions after a first, untimed pass filled the caches
    (voters' words repeat, so a long-running bot is mostly in this state).
- the baseline: `rapidfuzz.process.extractOne(question, pledges, scorer=fuzz.WRatio,
  processor=rapidfuzz.utils.default_process)` over the list of pledge texts, on the same
  questions in the same run (it has no cache to warm).

q/s is the number of questions over the summed per-question time (the timer's own overhead
is included, about 0.1 us); p50 and p99 are over all timed questions of all repeats. The index
build time (`Matcher(kb)`), the process' peak RSS (`ru_maxrss`) and the current RSS after each
size are reported too. The process is pinned to one CPU (`os.sched_setaffinity`) when the OS
allows it, for the "one core" figures.

Not a pass/fail test: the targets (shipped >= 5,000 q/s cold, 1,000 topics p99 <= 10 ms) are
printed beside the figures, and the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rapidfuzz  # noqa: E402
from rapidfuzz import fuzz, process  # noqa: E402
from rapidfuzz.utils import default_process  # noqa: E402

from bot import normalize as bot_text  # noqa: E402
from bot.knowledge import Area, Fact, KnowledgeBase, Topic, load_knowledge  # noqa: E402
from bot.matcher import Matcher, MatchKind  # noqa: E402
from bot.normalize import fold  # noqa: E402

KNOWLEDGE = ROOT / "knowledge"
SOURCE = ROOT / "docs" / "source" / "distriktspolitikk.txt"
QUESTION_FILES = [
    ROOT / "tests/data/questions-a.jsonl",
    ROOT / "tests/data/questions-b.jsonl",
    ROOT / "tests" / "data" / "dev-questions.jsonl",
]

TARGET_SHIPPED_QPS = 5_000
TARGET_1000_P99_MS = 10.0


# --- questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    text: str
    topics: tuple[str, ...]  # the labelled (or generated-from) topics; empty = not covered
    origin: str  # "real" or "generated"


def load_questions() -> tuple[list[Question], list[str]]:
    out: list[Question] = []
    used: list[str] = []
    for path in QUESTION_FILES:
        if not path.exists():
            continue
        used.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    out.append(Question(row["text"], tuple(row.get("topics") or ()), "real"))
    return out, used


# --- generated knowledge ---------------------------------------------------------------------

_WORD = re.compile(r"[a-zæøåéü]+")
_ONSETS = (
    "b bl br d dr f fj fl fr g gl gr h j k kl kn kr l m n p pl pr r s sk skj sl sm sn sp st "
    "str sv t tr v"
).split()
_VOWELS = "a a e e i o u y æ ø å ei au øy".split()
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "k", "nd", "ng", "rt", "st", "kk", "ll", "nn", "tt"]
_SUFFIXES = ["", "", "", "", "ing", "het", "else", "skap", "sjon", "eri", "ning", "verk", "lag"]
_LINKS = ["", "", "s", "e"]
_PLEDGE_VERBS = [
    "Sikre",
    "Styrke",
    "Bygge ut",
    "Halvere",
    "Etablere",
    "Gjennomføre",
    "Trappe opp",
    "Utvide",
    "Gi flere",
    "Satse på",
    "Gjenreise",
    "Fornye",
]
_PLEDGE_TAILS = [
    "i hele landet",
    "i distriktene",
    "for alle innbyggere",
    "uansett bosted",
    "i kommunene",
    "langs kysten",
    "for eldre og unge",
    "innen 2030",
    "",
]
_QUESTION_FRAMES = [
    "Hva vil dere gjøre med {a}?",
    "Kva meiner de om {a} og {b}?",
    "hvorfor er det så dårlig med {a} her",
    "Blir det mer {a} i kommunen vår?",
    "ka dokker ska gjør med {a}",
    "{a} {b}",
    "Hva er planen for {a} og {b} i distriktene?",
    "Jeg lurer på hva AP mener om {a}",
    "What will you do about {a}?",
    "{a}?",
    "Får vi bedre {a} og {b} snart?",
    "kor blir det av {a} {b} {c}",
]


def _syllable_word(rng: random.Random) -> str:
    n = rng.choice((1, 2, 2, 2, 3, 3))
    parts = []
    for _ in range(n):
        parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS))
    return "".join(parts) + rng.choice(_SUFFIXES)


def _real_words(shipped: KnowledgeBase) -> list[str]:
    """Content-looking words of the shipped topics and the source text (lower case, æøå)."""
    texts: list[str] = []
    for t in shipped.topics:
        texts += [t.title, t.pledge, t.explanation or "", *t.keywords, *t.examples]
        texts += [f.text for f in t.facts]
    if SOURCE.exists():
        texts.append(SOURCE.read_text(encoding="utf-8"))
    seen: dict[str, None] = {}
    for text in texts:
        for w in _WORD.findall(text.lower()):
            if len(w) >= 4:
                seen[w] = None
    return list(seen)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("delete", "swap", "replace", "insert", "fold"))
    if op == "delete":
        return word[:i] + word[i + 1 :]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "replace":
        return word[:i] + rng.choice("aeiouynrstlk") + word[i + 1 :]
    if op == "insert":
        return word[:i] + rng.choice("aeiouynrstlk") + word[i:]
    return word.replace("ø", "o").replace("å", "a").replace("æ", "e")


def generate_knowledge(
    n_topics: int, n_questions: int, shipped: KnowledgeBase, seed: int
) -> tuple[KnowledgeBase, list[Question]]:
    """A knowledge base of n_topics topics: the shipped topics plus generated ones.

    Each generated topic has a lexicon of its own (syllable words and compounds, so the
    vocabulary grows with the number of topics, ~20 new terms per topic) and borrows words
    from a shared pool (the real words of the knowledge and the source, and earlier topics'
    words, so terms are shared between topics as they would be). Keywords: ~15-30 with
    inflections and multi-word phrases; 5 example questions; a pledge of a verb and 3-15 words;
    an explanation of 30-60 words.

    Also returns n_questions questions, each built from 1-3 keywords of one random generated
    topic in a question frame, with a typo in one of them 60 % of the time.
    """
    rng = random.Random(seed * 1_000_003 + n_topics)
    real = _real_words(shipped)
    shared: list[str] = list(real)
    base_area = shipped.areas[0]
    n_areas = max(1, n_topics // 200)
    areas = [base_area] + [
        Area(
            f"omrade-{a:03d}",
            f"Område {a}",
            base_area.intro,
            base_area.question,
            base_area.replies,
            "<generated>",
        )
        for a in range(1, n_areas)
    ]
    topics: list[Topic] = list(shipped.topics)
    ids = {t.id for t in topics}
    lexicons: list[list[str]] = []
    for i in range(len(shipped.topics), n_topics):
        lex: list[str] = []
        for _ in range(rng.randint(8, 12)):
            lex.append(_syllable_word(rng))
        for _ in range(rng.randint(7, 11)):
            word = ""
            while not 8 <= len(word) <= 26:  # compounds, but of the length voters type
                left = rng.choice(shared) if rng.random() < 0.6 else _syllable_word(rng)
                right = rng.choice(real) if rng.random() < 0.7 else _syllable_word(rng)
                word = left + rng.choice(_LINKS) + right
            lex.append(word)
        borrowed = rng.sample(shared, rng.randint(4, 8))
        keywords: list[str] = list(lex)
        for w in rng.sample(lex, 4):
            keywords.append(w + rng.choice(("en", "ene", "er", "a", "et")))
        for _ in range(rng.randint(2, 4)):
            keywords.append(f"{rng.choice(borrowed)} {rng.choice(lex)}")
        keywords.extend(borrowed[: rng.randint(0, 4)])
        rng.shuffle(keywords)
        keywords = list(dict.fromkeys(keywords))[: rng.randint(15, 30)]
        title_words = rng.sample(lex, rng.randint(1, 3))
        title = " og ".join(title_words).capitalize()
        # an id like the real ones: a slug of the title (indexed as title words by the matcher)
        topic_id = fold(title_words[0]).replace(" ", "-")[:30]
        while topic_id in ids:
            topic_id = f"{topic_id[:30]}-{fold(_syllable_word(rng))[:8]}"
        ids.add(topic_id)
        pledge_words = rng.sample(lex, 2) + [rng.choice(shared) for _ in range(rng.randint(1, 13))]
        rng.shuffle(pledge_words)
        pledge = f"{rng.choice(_PLEDGE_VERBS)} {' '.join(pledge_words)} {rng.choice(_PLEDGE_TAILS)}"
        pledge = pledge.strip() + "."
        expl_words = [
            rng.choice(lex) if rng.random() < 0.25 else rng.choice(shared)
            for _ in range(rng.randint(30, 60))
        ]
        sentences = [" ".join(expl_words[j : j + 12]) for j in range(0, len(expl_words), 12)]
        explanation = ". ".join(s.capitalize() for s in sentences) + "."
        facts = tuple(
            Fact(
                " ".join(
                    [rng.choice(lex), *(rng.choice(shared) for _ in range(rng.randint(4, 9)))]
                ).capitalize()
                + f" {rng.randint(2, 90)}.",
                str(rng.randint(2015, 2024)),
            )
            for _ in range(rng.randint(0, 2))
        )
        examples = tuple(
            rng.choice(_QUESTION_FRAMES).format(
                a=rng.choice(keywords), b=rng.choice(keywords), c=rng.choice(lex)
            )
            for _ in range(5)
        )
        topics.append(
            Topic(
                id=topic_id,
                title=title,
                pledge=pledge,
                explanation=explanation,
                facts=facts,
                related=(),
                keywords=tuple(keywords),
                examples=examples,
                area_id=areas[i % n_areas].id,
            )
        )
        lexicons.append(lex)
        # later topics may borrow this topic's words (so terms are shared between topics)
        shared.extend(rng.sample(lex, 2))
    kb = KnowledgeBase(tuple(areas), tuple(topics), ("<generated>",))

    questions: list[Question] = []
    generated = topics[len(shipped.topics) :]
    for _ in range(n_questions):
        k = rng.randrange(len(generated))
        topic = generated[k]
        picks = [rng.choice(topic.keywords) for _ in range(3)]
        if rng.random() < 0.6:
            j = rng.randrange(3)
            picks[j] = " ".join(_typo(w, rng) for w in picks[j].split())
        frame = rng.choice(_QUESTION_FRAMES)
        questions.append(
            Question(frame.format(a=picks[0], b=picks[1], c=picks[2]), (topic.id,), "generated")
        )
    return kb, questions


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Timing:
    latencies_ns: list[int]
    answers: list[str | None]

    @property
    def qps(self) -> float:
        total = sum(self.latencies_ns)
        return len(self.latencies_ns) / (total / 1e9) if total else float("inf")

    def pct_ms(self, p: float) -> float:
        lat = sorted(self.latencies_ns)
        if not lat:
            return float("nan")
        # nearest-rank percentile
        k = max(0, min(len(lat) - 1, math.ceil(p / 100 * len(lat)) - 1))
        return lat[k] / 1e6

    def summary(self) -> dict[str, float]:
        return {
            "questions_timed": len(self.latencies_ns),
            "qps": round(self.qps, 1),
            "p50_ms": round(self.pct_ms(50), 4),
            "p99_ms": round(self.pct_ms(99), 4),
            "max_ms": round(max(self.latencies_ns) / 1e6, 4),
        }


def time_pass(
    fn: Callable[[str], str | None],
    texts: Sequence[str],
    before_each: Callable[[], None] | None = None,
) -> Timing:
    clock = time.perf_counter_ns
    lat: list[int] = []
    answers: list[str | None] = []
    gc.collect()
    for t in texts:
        if before_each is not None:
            before_each()
        t0 = clock()
        answer = fn(t)
        t1 = clock()
        lat.append(t1 - t0)
        answers.append(answer)
    return Timing(lat, answers)


def merge(timings: list[Timing]) -> Timing:
    return Timing([x for t in timings for x in t.latencies_ns], timings[0].answers)


def accuracy(answers: Sequence[str | None], questions: Sequence[Question]) -> float:
    """Share of questions whose answer is one of the labels (None for an uncovered one)."""
    ok = 0
    for a, q in zip(answers, questions, strict=True):
        ok += (a in q.topics) if q.topics else (a is None)
    return ok / len(questions) if questions else float("nan")


def rss_mb() -> tuple[float, float]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    current = float("nan")
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak, current


def bench_size(
    label: str,
    kb: KnowledgeBase,
    questions: list[Question],
    repeats: int,
    baseline_repeats: int,
) -> dict[str, Any]:
    texts = [q.text for q in questions]
    gc.collect()
    t0 = time.perf_counter()
    matcher = Matcher(kb)
    build_s = time.perf_counter() - t0
    # as the bot does after start-up (handlers/app.py): the index lives as long as the process,
    # so it is kept out of the garbage collector's scans
    gc.freeze()

    def run(text: str) -> str | None:
        m = matcher.match(text)
        return m.topic_id if m.kind is MatchKind.TOPIC else None

    def clear() -> None:
        matcher.clear_cache()
        bot_text.stem.cache_clear()
        bot_text.rarity.cache_clear()

    pledges = [t.pledge for t in kb.topics]
    ids = [t.id for t in kb.topics]

    def baseline(text: str) -> str | None:
        best = process.extractOne(text, pledges, scorer=fuzz.WRatio, processor=default_process)
        return ids[best[2]] if best else None

    # one untimed pass each to warm the interpreter (imports, branch caches); then the passes
    # of the matcher (cold; warm after an untimed pass that fills the caches) and of the
    # baseline take turns, so that a change in the machine's load hits both alike
    time_pass(run, texts[:50], clear)
    time_pass(baseline, texts[:20])
    colds: list[Timing] = []
    warms: list[Timing] = []
    bases: list[Timing] = []
    for i in range(max(repeats, baseline_repeats)):
        if i < repeats:
            colds.append(time_pass(run, texts, clear))
        if i < baseline_repeats:
            bases.append(time_pass(baseline, texts))
        if i < repeats:
            clear()
            time_pass(run, texts)
            warms.append(time_pass(run, texts))
    cold, warm, base = merge(colds), merge(warms), merge(bases)
    peak, current = rss_mb()

    real = [i for i, q in enumerate(questions) if q.origin == "real"]
    gen = [i for i, q in enumerate(questions) if q.origin == "generated"]

    def acc(answers: list[str | None], idx: list[int]) -> float | None:
        if not idx:
            return None
        return round(accuracy([answers[i] for i in idx], [questions[i] for i in idx]), 3)

    vocabulary = len(matcher._vocab)
    return {
        "knowledge": label,
        "topics": len(kb.topics),
        "vocabulary_terms": vocabulary,
        "questions": len(questions),
        "questions_real": len(real),
        "questions_generated": len(gen),
        "index_build_s": round(build_s, 3),
        "matcher_cold": cold.summary(),
        "matcher_warm": warm.summary(),
        "baseline": base.summary(),
        "ratio_cold": round(cold.qps / base.qps, 1),
        "ratio_warm": round(warm.qps / base.qps, 1),
        "accuracy": {
            "matcher_real": acc(warm.answers, real),
            "matcher_generated": acc(warm.answers, gen),
            "baseline_real": acc(base.answers, real),
            "baseline_generated": acc(base.answers, gen),
        },
        "peak_rss_mb": round(peak, 1),
        "rss_mb": round(current, 1),
    }


# --- reporting -------------------------------------------------------------------------------


def environment(pinned: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "bot"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    return {
        "cpu": cpu,
        "cpus_online": os.cpu_count(),
        "pinned": pinned,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "rapidfuzz": rapidfuzz.__version__,
        "platform": platform.platform(),
        "commit": commit + (" (bot/ modified)" if dirty else ""),
    }


def fmt_qps(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| knowledge size | matcher cache | matcher q/s | p50 ms | p99 ms "
        "| baseline q/s | baseline p50 ms | baseline p99 ms | ratio (q/s) |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    rows = []
    for r in results:
        b = r["baseline"]
        for mode in ("cold", "warm"):
            m = r[f"matcher_{mode}"]
            rows.append(
                f"| {r['knowledge']} | {mode} | {fmt_qps(m['qps'])} | {fmt_ms(m['p50_ms'])} "
                f"| {fmt_ms(m['p99_ms'])} | {fmt_qps(b['qps'])} | {fmt_ms(b['p50_ms'])} "
                f"| {fmt_ms(b['p99_ms'])} | {r[f'ratio_{mode}']:.1f}x |"
            )
    return head + "\n".join(rows)


def side_table(results: list[dict[str, Any]]) -> str:
    head = (
        "| knowledge size | topics | vocabulary terms | questions (real + generated) "
        "| index build s | peak RSS MB | top-1 matcher (real / gen.) "
        "| top-1 baseline (real / gen.) |\n"
        "|---|--:|--:|--:|--:|--:|--:|--:|\n"
    )

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f} %"

    rows = []
    for r in results:
        a = r["accuracy"]
        rows.append(
            f"| {r['knowledge']} | {r['topics']:,} | {r['vocabulary_terms']:,} "
            f"| {r['questions_real']} + {r['questions_generated']} | {r['index_build_s']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {pct(a['matcher_real'])} / {pct(a['matcher_generated'])} "
            f"| {pct(a['baseline_real'])} / {pct(a['baseline_generated'])} |"
        )
    return head + "\n".join(rows)


def targets(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in results:
        if r["knowledge"] == "shipped":
            qps = r["matcher_cold"]["qps"]
            ok = "met" if qps >= TARGET_SHIPPED_QPS else "MISSED"
            out.append(f"shipped knowledge >= {TARGET_SHIPPED_QPS:,} q/s cold: {qps:,.0f} ({ok})")
        if r["topics"] == 1000:
            for mode in ("cold", "warm"):
                p99 = r[f"matcher_{mode}"]["p99_ms"]
                ok = "met" if p99 <= TARGET_1000_P99_MS else "MISSED"
                out.append(
                    f"1,000 topics p99 <= {TARGET_1000_P99_MS:g} ms ({mode}): {p99:.2f} ms ({ok})"
                )
    return out


# --- main ------------------------------------------------------------------------------------


def pin_one_cpu() -> str:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[0]})
        return f"pinned to CPU {cpus[0]} (of {len(cpus)} allowed)"
    except (AttributeError, OSError) as exc:
        return f"not pinned ({exc.__class__.__name__})"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a fast smoke run (~5 s)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument(
        "--sizes",
        default=None,
        help="generated sizes, comma-separated (default 1000,10000; --quick: 1000)",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed passes per cache state")
    ap.add_argument("--generated-questions", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = ap.parse_args(argv)

    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,10000")).split(",")]
    repeats = args.repeats or (1 if args.quick else 3)
    n_gen = args.generated_questions or (100 if args.quick else 1000)
    pinned = "not pinned (--no-pin)" if args.no_pin else pin_one_cpu()
    env = environment(pinned)
    print(f"# matcher benchmark ({'quick' if args.quick else 'full'})", flush=True)
    print(f"{env['cpu']}; {pinned}; Python {env['python']}; rapidfuzz {env['rapidfuzz']}")

    started = time.perf_counter()
    shipped = load_knowledge(KNOWLEDGE)
    real, files = load_questions()
    if args.quick:
        real = real[::3]
    print(f"{len(real)} real questions from {', '.join(files)}", flush=True)

    results = []
    for n in [0, *sizes]:  # 0: the shipped knowledge
        t0 = time.perf_counter()
        if n == 0:
            label, kb, questions = "shipped", shipped, real
        else:
            label = f"{n:,} topics"
            kb, generated = generate_knowledge(n, n_gen, shipped, args.seed)
            questions = real + generated
        gen_s = time.perf_counter() - t0
        # large generated sizes: fewer baseline passes (it is the slow side)
        base_repeats = repeats if len(kb.topics) <= 1000 else 1
        r = bench_size(label, kb, questions, repeats, base_repeats)
        r["generate_s"] = round(gen_s, 2)
        r["repeats"] = {"matcher": repeats, "baseline": base_repeats}
        results.append(r)
        m, w, b = r["matcher_cold"], r["matcher_warm"], r["baseline"]
        print(
            f"{label}: {r['topics']:,} topics, {r['vocabulary_terms']:,} terms, "
            f"{len(questions)} questions; build {r['index_build_s']:.2f} s; "
            f"cold {m['qps']:,.0f} q/s p50 {m['p50_ms']:.3f} p99 {m['p99_ms']:.3f} ms; "
            f"warm {w['qps']:,.0f} q/s p50 {w['p50_ms']:.3f} p99 {w['p99_ms']:.3f} ms; "
            f"baseline {b['qps']:,.0f} q/s p50 {b['p50_ms']:.3f} p99 {b['p99_ms']:.3f} ms; "
            f"peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        del kb, questions
        gc.unfreeze()
        gc.collect()  # free this size's index before the next one is built

    total = time.perf_counter() - started
    print()
    print(table(results))
    print()
    print(side_table(results))
    print()
    for line in targets(results):
        print(f"- {line}")
    print(f"\n{env['cpu']}, {pinned}, Python {env['python']}, total {total:.1f} s")

    if args.json:
        out = {
            "mode": "quick" if args.quick else "full",
            "environment": env,
            "questions_files": files,
            "cold": "matcher._lookup, bot.normalize.stem and .rarity caches cleared before every "
            "question",
            "warm": "second timed pass after an untimed pass over the same questions",
            "results": results,
            "targets": targets(results),
            "total_s": round(total, 1),
        }
        Path(args.json).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
