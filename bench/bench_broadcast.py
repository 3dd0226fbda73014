"""Benchmark of the newsletter: 10,000 subscribers at Telegram's pace while voters keep asking.

Run from the repository root:

    .venv/bin/python bench/bench_broadcast.py                    # 10,000 subscribers
    .venv/bin/python bench/bench_broadcast.py --subscribers 1000 # a shorter run

What happens: the stand-in Bot API (`tests/fake_telegram.py`) serves on 127.0.0.1 in this
process and enforces Telegram's flood limit (a message beyond 30 in any one-second window is
refused with 429 and retry_after=1). `python -m bot run` runs as a separate process with a fresh
SQLite database holding the subscribers. First the voters alone ask questions for
`--baseline` seconds, at `--voter-rate` questions per second (one question per voter at a time),
and their reply times are measured: the baseline. Then an admin writes `/kringkast` and presses
Send; the voters keep asking at the same rate until the report arrives.

Reported: the newsletter's messages per second (first to last delivery, and the middle 80 %),
all of the bot's messages per second in the same window (newsletter + voters' replies +
progress edits), the most messages the stand-in accepted in any one-second window, the 429s it
answered, letters lost and letters delivered twice (must be 0 and 0), and the voters' reply
times (p50, p99) before and during the broadcast. Target: >= 27 newsletter messages per second
(90 % of the limit). The exit status is 0 when every subscriber got exactly one letter and
every question an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bot.storage import Storage, pseudonymize  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

TARGET_PER_SECOND = 27
TELEGRAM_LIMIT = 30
ADMIN_ID = 5_550_001
FIRST_SUBSCRIBER = 100_001
FIRST_VOTER = 900_001
VOTERS = 200
FOOTER = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."
REPORT = "Rapport for nyhetsbrevet:"
LETTER = "<b>Nyhetsbrev</b>: vi står på stand på torget lørdag. Velkommen!"


def questions() -> list[str]:
    path = ROOT / "tests" / "data" / "questions-a.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def prepare_database(path: Path, n: int) -> None:
    """Migrate, then write the subscribers in one go (as if they had opted in over time)."""

    async def migrate() -> None:
        storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
        await storage.close()

    asyncio.run(migrate())
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO subscribers (user_key, chat_id, created_at) VALUES (?, ?, ?)",
            (
                (pseudonymize("bench-keys", chat), chat, f"2026-01-01 00:00:{i % 60:02d}")
                for i, chat in enumerate(range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + n))
            ),
        )
    con.close()


def start_bot(fake: FakeTelegram, workdir: Path) -> subprocess.Popen[bytes]:
    return harness.start_bot(fake.base_url, fake.token, workdir, admins=[ADMIN_ID])


def stop_bot(proc: subprocess.Popen[bytes]) -> int:
    return harness.stop_bot(proc, timeout=30)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Watch:
    """Reads the stand-in's call log as it grows."""

    fake: FakeTelegram
    subscribers: range
    index: int = 0
    letters: dict[int, int] = field(default_factory=dict)  # chat -> letters delivered
    letter_times: list[float] = field(default_factory=list)
    accepted_times: list[float] = field(default_factory=list)  # every message the stand-in took
    refused: int = 0
    admin_messages: list[Any] = field(default_factory=list)
    voter_replies: dict[int, float] = field(default_factory=dict)  # voter chat -> reply time

    def poll(self) -> None:
        calls = self.fake.calls
        while self.index < len(calls):
            call = calls[self.index]
            self.index += 1
            if call.method not in ("sendMessage", "editMessageText"):
                continue
            if call.error_code == 429:
                self.refused += 1
                continue
            if not call.ok or call.message is None:
                continue
            self.accepted_times.append(call.time)
            chat = call.message.chat_id
            if chat in self.subscribers:
                self.letters[chat] = self.letters.get(chat, 0) + 1
                self.letter_times.append(call.time)
            elif chat == ADMIN_ID:
                self.admin_messages.append(call.message)
            elif call.method == "sendMessage":
                self.voter_replies.setdefault(chat, call.time)


class Voters:
    """Voters asking at a steady rate, each waiting for the answer before asking again."""

    def __init__(self, fake: FakeTelegram, watch: Watch, rate: float) -> None:
        self.fake, self.watch, self.rate = fake, watch, rate
        self.texts = questions()
        self.free = deque(range(FIRST_VOTER, FIRST_VOTER + VOTERS))
        self.waiting: dict[int, float] = {}
        self.latencies: list[float] = []
        self.asked = 0
        self.next_at = time.monotonic()
        for chat in self.free:
            fake.user(chat, f"V{chat}")

    def tick(self) -> None:
        for chat, replied in list(self.watch.voter_replies.items()):
            asked = self.waiting.pop(chat, None)
            del self.watch.voter_replies[chat]
            if asked is not None:
                self.latencies.append(replied - asked)
                self.free.append(chat)
        now = time.monotonic()
        while now >= self.next_at and self.free:
            chat = self.free.popleft()
            self.waiting[chat] = time.monotonic()
            self.fake.send_text(chat, self.texts[self.asked % len(self.texts)])
            self.asked += 1
            self.next_at += 1.0 / self.rate

    def take(self) -> list[float]:
        taken, self.latencies = self.latencies, []
        return taken


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def run(n: int, voter_rate: float, baseline: float, timeout: float) -> dict[str, Any]:
    # The stand-in serves each connection from a thread of this process; with Python's default
    # 5 ms switch interval those threads queue for the GIL and requests sent evenly by the bot
    # reach the flood-limit check bunched up by tens of milliseconds (measured: spurious 429s).
    # Telegram has no GIL: a short interval keeps the stand-in's own delays out of the figures.
    sys.setswitchinterval(0.0005)
    # Likewise the other tenants of a shared machine: a process that waits for a core delays
    # what it sends by a whole time slice. Ahead of them (when allowed), inherited by the bot.
    with contextlib.suppress(OSError):
        os.nice(-10)
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp, FakeTelegram() as fake:
        workdir = Path(tmp)
        subscribers = range(FIRST_SUBSCRIBER, FIRST_SUBSCRIBER + n)
        prepare_database(workdir / "bench.sqlite3", n)
        for chat in subscribers:
            fake.user(chat, "S")
        admin = fake.user(ADMIN_ID, "Anne")
        fake.limit_rate(TELEGRAM_LIMIT, retry_after=1)
        proc = start_bot(fake, workdir)
        try:
            fake.wait_for_sync("setMyCommands", timeout=60)
            watch = Watch(fake, subscribers)
            voters = Voters(fake, watch, voter_rate)

            # the voters alone: the baseline
            end = time.monotonic() + baseline
            while time.monotonic() < end:
                watch.poll()
                voters.tick()
                time.sleep(0.02)
            before = voters.take()

            # the admin sends the newsletter; the voters keep asking
            fake.send_text(admin, f"/kringkast {LETTER}")
            while len(watch.admin_messages) < 2 and time.monotonic() < deadline:
                watch.poll()
                voters.tick()
                time.sleep(0.02)
            preview = watch.admin_messages[1]
            fake.click(admin, preview, "Send")
            report = None
            while report is None and time.monotonic() < deadline:
                watch.poll()
                voters.tick()
                report = next(
                    (
                        m
                        for m in watch.admin_messages
                        if not m.edited and (m.plain_text or "").startswith(REPORT)
                    ),
                    None,
                )
                time.sleep(0.02)
            during = voters.take()
            unanswered = len(voters.waiting)
        finally:
            code = stop_bot(proc)
        log = (workdir / "bot.log").read_text(errors="replace")

    letters = sorted(watch.letter_times)
    first, last = (letters[0], letters[-1]) if letters else (0.0, 0.0)
    span = last - first
    lo, hi = letters[len(letters) // 10], letters[(len(letters) * 9) // 10] if letters else (0, 0)
    in_span = [t for t in watch.accepted_times if first <= t <= last]
    return {
        "subscribers": n,
        "report": report is not None,
        "letters": sum(watch.letters.values()),
        "lost": sum(1 for chat in subscribers if watch.letters.get(chat, 0) == 0),
        "twice": sum(1 for count in watch.letters.values() if count > 1),
        "seconds": span,
        "letters_per_second": (len(letters) - 1) / span if span > 0 else 0.0,
        "middle_80_per_second": (len(letters) * 8 // 10) / (hi - lo) if hi > lo else 0.0,
        "all_messages_per_second": (len(in_span) - 1) / span if span > 0 else 0.0,
        "max_in_one_second": max_in_window(sorted(watch.accepted_times)),
        "refused_429": watch.refused,
        "voter_rate": voter_rate,
        "voters_before": len(before),
        "voters_during": len(during),
        "p50_before_ms": 1000 * percentile(before, 0.5),
        "p99_before_ms": 1000 * percentile(before, 0.99),
        "p50_during_ms": 1000 * percentile(during, 0.5),
        "p99_during_ms": 1000 * percentile(during, 0.99),
        "mean_during_ms": 1000 * statistics.fmean(during) if during else float("nan"),
        "unanswered": unanswered,
        "exit_status": code,
        "log_problems": [line for line in log.splitlines() if " ERROR " in line][:5],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--voter-rate", type=float, default=1.0, help="questions per second (1)")
    p.add_argument("--baseline", type=float, default=30.0, help="seconds of voters alone (30)")
    p.add_argument("--timeout", type=float, default=1200.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    r = run(args.subscribers, args.voter_rate, args.baseline, args.timeout)
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    print(f"CPU: {harness.cpu_model()} ({os.cpu_count()} CPUs), Python {platform.python_version()}")
    print()
    print(
        "| subscribers | newsletter msg/s (middle 80 %) | all msg/s | max in 1 s | 429s "
        "| lost | twice | voters p50 / p99 before | voters p50 / p99 during |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {r['subscribers']:,} | {r['letters_per_second']:.1f} ({r['middle_80_per_second']:.1f})"
        f" | {r['all_messages_per_second']:.1f} | {r['max_in_one_second']} "
        f"| {r['refused_429']} | {r['lost']} | {r['twice']} "
        f"| {r['p50_before_ms']:.0f} / {r['p99_before_ms']:.0f} ms ({r['voters_before']}) "
        f"| {r['p50_during_ms']:.0f} / {r['p99_during_ms']:.0f} ms ({r['voters_during']}) |"
    )
    print()
    print(f"command: {command}")
    print(
        f"{r['letters']} letters in {r['seconds']:.1f} s; voters asked {r['voter_rate']}/s; "
        f"target >= {TARGET_PER_SECOND} newsletter messages/s; Telegram's limit {TELEGRAM_LIMIT}"
    )
    if r["log_problems"]:
        print("the bot logged errors:", *r["log_problems"], sep="\n  ")
    if args.json:
        print(json.dumps(r, indent=2))
    ok = r["report"] and r["lost"] == 0 and r["twice"] == 0 and r["unanswered"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
