"""Benchmark of the bot's start-up: loading the knowledge from YAML and building the matcher.

Run from the repository root:

    .venv/bin/python bench/bench_startup.py                  # shipped, 1,000 and 10,000 topics
    .venv/bin/python bench/bench_startup.py --sizes 10000 --runs 3
    .venv/bin/python bench/bench_startup.py --against /tmp/base   # side by side with another tree

What is measured, per knowledge size (the shipped knowledge, then the generated knowledge of
`bench_matcher.py` written as YAML files, one file per area of 200 topics, into a temporary
folder): in a fresh Python process each time, the time of `load_knowledge(folder)` (reading,
parsing and checking every file, as `distriktsbot run` and `distriktsbot check` do), then of
`Matcher(kb)`, and the process's peak RSS (`ru_maxrss`) after both. The imports are not timed.

With `--against DIR`, every run is also made with the `bot` package of the source tree DIR
(e.g. an older commit unpacked with `git archive <commit> | tar -x -C DIR`), alternating with
this tree's runs so that a change in the machine's load hits both alike. The load average is
printed before and after (this VM is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.bench_matcher import generate_knowledge  # noqa: E402
from bot.knowledge import KnowledgeBase, load_knowledge  # noqa: E402

KNOWLEDGE = ROOT / "knowledge"
PER_FILE = 200

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
t0 = time.perf_counter()
kb = load_knowledge(sys.argv[2])
t1 = time.perf_counter()
m = Matcher(kb)
t2 = time.perf_counter()
print(json.dumps({
    "topics": len(kb.topics),
    "load_s": t1 - t0,
    "build_s": t2 - t1,
    "total_s": t2 - t0,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def write_yaml(kb: KnowledgeBase, folder: Path) -> None:
    """The knowledge as YAML files in the shipped format, one file per area."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    by_area: dict[str, list[dict[str, Any]]] = {a.id: [] for a in kb.areas}
    for t in kb.topics:
        raw: dict[str, Any] = {
            "id": t.id,
            "title": t.title,
            "pledge": t.pledge,
            "keywords": list(t.keywords),
        }
        if t.explanation:
            raw["explanation"] = t.explanation
        if t.facts:
            raw["facts"] = [
                {"text": f.text, **({"date": f.date} if f.date else {})} for f in t.facts
            ]
        if t.related:
            raw["related"] = list(t.related)
        if t.examples:
            raw["examples"] = list(t.examples)
        if t.broad_keywords:
            raw["broad_keywords"] = list(t.broad_keywords)
        by_area[t.area_id].append(raw)
    for i, area in enumerate(kb.areas):
        doc: dict[str, Any] = {
            "area": {
                "id": area.id,
                "title": area.title,
                "intro": area.intro,
                "question": area.question,
                "replies": dataclasses.asdict(area.replies),
            },
            "topics": by_area[area.id],
        }
        oos = area.out_of_scope
        lists = {k: list(v) for k, v in dataclasses.asdict(oos).items() if v}
        if lists:
            doc["out_of_scope"] = lists
        text = yaml.dump(doc, Dumper=dumper, allow_unicode=True, sort_keys=False, width=100)
        (folder / f"{i:03d}-{area.id}.yaml").write_text(text, encoding="utf-8")


def run_child(tree: Path, knowledge: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(knowledge)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="generated sizes, comma-separated")
    ap.add_argument("--runs", type=int, default=2, help="fresh processes per size and tree")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--against", metavar="DIR", help="another source tree, run side by side")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    trees = [("this", ROOT)]
    if args.against:
        trees.append(("against", Path(args.against).resolve()))
    print(f"# start-up benchmark; load average {loadavg()}", flush=True)
    shipped = load_knowledge(KNOWLEDGE)
    results: list[dict[str, Any]] = []
    sizes = [0, *(int(s) for s in args.sizes.split(",") if s)]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        for n in sizes:
            if n == 0:
                label, folder = "shipped", KNOWLEDGE
            else:
                label = f"{n:,} topics"
                kb, _ = generate_knowledge(n, 0, shipped, args.seed)
                folder = Path(tmp) / str(n)
                folder.mkdir()
                write_yaml(kb, folder)
                del kb
            size_mb = sum(f.stat().st_size for f in folder.glob("*.yaml")) / 1e6
            for run in range(args.runs):
                for name, tree in trees:
                    r = run_child(tree, folder)
                    r.update(knowledge=label, tree=name, run=run, yaml_mb=round(size_mb, 1))
                    results.append(r)
                    print(
                        f"{label} ({size_mb:.1f} MB YAML), {name}: load {r['load_s']:.2f} s "
                        f"+ matcher {r['build_s']:.2f} s = {r['total_s']:.2f} s; "
                        f"peak RSS {r['peak_rss_mb']:.0f} MB; load average {loadavg()}",
                        flush=True,
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
