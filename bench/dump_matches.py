"""Dump every matcher answer, to show that a change to the matcher keeps its answers.

    .venv/bin/python bench/dump_matches.py . 0,1000,10000 /tmp/after.txt
    git archive <commit> | tar -x -C /tmp/before
    .venv/bin/python bench/dump_matches.py /tmp/before 0,1000,10000 /tmp/before.txt
    diff <(cut -f1,2 /tmp/before.txt) <(cut -f1,2 /tmp/after.txt)          # the Match reprs
    # the Evidence reprs too (dict and set orders of strings follow the hash seed):
    PYTHONHASHSEED=0 .venv/bin/python bench/dump_matches.py ...; cmp before.txt after.txt

Arguments: a source tree (its `bot` package, knowledge and bench generator are used), the
knowledge sizes (0: the shipped knowledge; n: `bench_matcher.generate_knowledge(n, 1000, ...)`
with seed 1) and the output file. For each size, every question of tests/data/*.jsonl (of this
tree, so both runs ask the same) plus, for a generated size, its 1,000 generated questions: one
line `size<TAB>repr(Match)` per question in order, then, after `clear_cache()`, one line
`size r<TAB>repr(Match)<TAB>repr(Evidence)` per question in reverse order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def main(tree: str, sizes: str, out: str) -> int:
    root = Path(tree).resolve()
    sys.path.insert(0, str(root))
    from bench.bench_matcher import generate_knowledge
    from bot import matcher as matcher_module
    from bot.knowledge import load_knowledge
    from bot.matcher import Matcher

    assert Path(matcher_module.__file__).is_relative_to(root), matcher_module.__file__
    shipped = load_knowledge(root / "knowledge")
    texts = [
        json.loads(line)["text"]
        for path in sorted((HERE / "tests" / "data").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with open(out, "w", encoding="utf-8") as fh:
        for n in (int(x) for x in sizes.split(",")):
            if n == 0:
                kb, questions = shipped, texts
            else:
                kb, generated = generate_knowledge(n, 1000, shipped, 1)
                questions = texts + [q.text for q in generated]
            m = Matcher(kb)
            for text in questions:
                fh.write(f"{n}\t{m.match(text)!r}\n")
            m.clear_cache()
            for text in reversed(questions):
                fh.write(f"{n}r\t{m.match(text)!r}\t{m.evidence(text)!r}\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    raise SystemExit(main(*sys.argv[1:]))
