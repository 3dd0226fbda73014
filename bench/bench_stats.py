"""Benchmark of /statistikk on 1,000,000 stored votes, beside the same query without its index.

Run from the repository root:

    .venv/bin/python bench/bench_stats.py              # 1,000,000 votes (about a minute to fill)
    .venv/bin/python bench/bench_stats.py -n 100000    # a smaller run

What is measured: a SQLite database (the default backend) migrated to head is filled with
`-n` votes (distinct pseudonymous keys, the 12 shipped topics, 70 % Enig) and a year of answer
counters (365 days x 12 topics x 4 kinds). Then, timed with `time.perf_counter`, each `--repeat`
times, median reported:

- `query`: what /statistikk reads: `bot.statistics.gather` (the period and the one before it,
  the counters, the subscribers) plus the text (`report_text`);
- `chart`: the PNG (`render_chart`, matplotlib Agg; imported before timing);
- `total`: query + chart, what an admin waits for (the bot sends the text and the photo).
- baseline: what the figures would cost without the counters: the same two periods' opinions
  counted from the votes table (GROUP BY topic over the votes last changed in the period,
  helped by a covering index on (updated_at, topic_id, agree) created for it), same run, same
  data.

Two distributions of the votes' `updated_at`: spread over the last 365 days (the usual case) and
all within the last 7 days (the worst case for the baseline: the default period covers every
vote). Target: under one second with 1,000,000 votes. Exit status 0 always.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics as st
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import statistics  # noqa: E402
from bot.knowledge import load_knowledge  # noqa: E402
from bot.storage import Storage  # noqa: E402


async def baseline(url: str, repeat: int) -> float:
    """The naive way: count the period's opinions from the votes table (GROUP BY over the
    votes last changed in the period, with a covering index on updated_at)."""
    from sqlalchemy import case, func, select

    from bot.storage.schema import VoteRow

    storage = await Storage.open(url)
    period = statistics.Period.last(statistics.DEFAULT_DAYS)
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    times = []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            async with storage.db.unit_of_work("baseline") as conn:
                for lo in (start - timedelta(days=period.days), start):
                    await conn.execute(
                        select(
                            VoteRow.topic_id,
                            func.sum(case((VoteRow.agree, 1), else_=0)),
                            func.count(),
                        )
                        .where(VoteRow.updated_at >= lo)
                        .where(VoteRow.updated_at < lo + timedelta(days=period.days))
                        .group_by(VoteRow.topic_id)
                    )
            times.append(time.perf_counter() - t0)
    finally:
        await storage.close()
    return st.median(times)


def fill(path: Path, n: int, spread_days: int, topics: list[str]) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC).replace(tzinfo=None)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    batch = []
    for i in range(n):
        when = now - timedelta(seconds=rng.uniform(0, spread_days * 86400))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        batch.append((f"{i:064x}", topics[i % len(topics)], rng.random() < 0.7, stamp, stamp))
        if len(batch) == 50_000:
            con.executemany(
                "INSERT INTO votes (user_key, topic_id, agree, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()
    if batch:
        con.executemany(
            "INSERT INTO votes (user_key, topic_id, agree, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            batch,
        )
    today = now.date()
    # the opinion counters, as the votes' own transactions keep them
    con.execute(
        "INSERT INTO answer_counts (day, topic_id, kind, count) SELECT date(updated_at), "
        "topic_id, CASE WHEN agree THEN 'agree' ELSE 'disagree' END, count(*) FROM votes "
        "GROUP BY 1, 2, 3"
    )
    con.execute(
        "CREATE INDEX ix_bench_votes_updated_at ON votes (updated_at, topic_id, agree)"
    )  # for the baseline only
    counters = [
        ((today - timedelta(days=d)).isoformat(), t, kind, rng.randint(1, 50))
        for d in range(365)
        for t in topics
        for kind in ("match", "open")
    ] + [
        ((today - timedelta(days=d)).isoformat(), "", kind, rng.randint(1, 50))
        for d in range(365)
        for kind in ("ambiguous", "declined")
    ]
    con.executemany(
        "INSERT INTO answer_counts (day, topic_id, kind, count) VALUES (?, ?, ?, ?)", counters
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def measure(url: str, repeat: int) -> dict[str, float]:
    kb = load_knowledge(ROOT / "knowledge")
    storage = await Storage.open(url)
    period = statistics.Period.last(statistics.DEFAULT_DAYS)
    query: list[float] = []
    chart: list[float] = []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = await statistics.gather(storage, period)
            statistics.report_text(kb, report)
            t1 = time.perf_counter()
            statistics.render_chart(kb, report)
            t2 = time.perf_counter()
            query.append(t1 - t0)
            chart.append(t2 - t1)
        votes = sum(t.agree + t.disagree for t in report.current.topics.values())
    finally:
        await storage.close()
    q, c = st.median(query), st.median(chart)
    return {"query": q, "chart": c, "total": q + c, "votes_in_period": votes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="votes to store")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    topics = list(load_knowledge(ROOT / "knowledge").topic_ids)
    statistics.warm_up()
    print(
        f"bench_stats: {args.n:,} votes, SQLite, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, median of {args.repeat}"
    )
    print(
        "| votes spread over | votes in period | /statistikk query+text ms | chart ms | "
        "total ms | baseline: GROUP BY over votes ms |"
    )
    print("|---|--:|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        for spread in (365, 7):
            path = Path(tmp) / f"stats-{spread}.sqlite3"
            url = f"sqlite+aiosqlite:///{path}"
            asyncio.run(_migrate(url))
            t0 = time.perf_counter()
            fill(path, args.n, spread, topics)
            fill_s = time.perf_counter() - t0
            r = asyncio.run(measure(url, args.repeat))
            base = asyncio.run(baseline(url, args.repeat))
            print(
                f"| {spread} days | {int(r['votes_in_period']):,} | {r['query'] * 1000:.0f} | "
                f"{r['chart'] * 1000:.0f} | {r['total'] * 1000:.0f} | {base * 1000:.0f} |",
                flush=True,
            )
            print(f"(filled in {fill_s:.0f} s)", file=sys.stderr)
    print("target: total under 1,000 ms with 1,000,000 votes")
    return 0


async def _migrate(url: str) -> None:
    storage = await Storage.open(url)
    await storage.close()


if __name__ == "__main__":
    raise SystemExit(main())
