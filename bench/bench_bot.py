"""Benchmark of the whole bot: updates handled per second by one `distriktsbot run` process, next
to a bare python-telegram-bot echo bot (the framework's ceiling) measured in the same run.

Run from the repository root:

    .venv/bin/python bench/bench_bot.py            # 3,000 updates; echo, bot, echo, bot
    .venv/bin/python bench/bench_bot.py --quick    # 500 updates; echo, bot
    .venv/bin/python bench/bench_bot.py -n 10000 --users 5000 --rounds 3
    .venv/bin/python bench/bench_bot.py --burst 30000 --no-echo   # 30,000 questions at once
    .venv/bin/python bench/bench_bot.py --no-echo --rounds 1 --profile /tmp/bot.folded

What happens: the stand-in Bot API (`tests/fake_telegram.py`) serves on 127.0.0.1 in this
process; `python -m bot --config <tmp>/config.yaml run` runs as a separate process, long-polling
it, with a fresh SQLite database and the shipped knowledge. After a short warm-up (not timed),
N updates are fed in:

- 70 % questions (the texts of tests/data/questions-a.jsonl, cycled), each from one of
  `--users` distinct users, all queued at once;
- 30 % Enig/Uenig presses (half each) on answers the bot has sent: pressed as soon as an answer
  with buttons arrives, so questions and votes interleave; when every question has been answered
  and presses remain, earlier answers are pressed again (a repeated or changed vote).

Every update gets exactly one message back. The time is from the first update queued to the
last reply the stand-in received (its own monotonic clock). Also reported: the process' peak RSS
(VmHWM from /proc/<pid>/status), its CPU seconds during the timed window (all its threads, the
SQLite driver's included) per update, the getUpdates calls and the updates they carried (the bot
confirms an update only once handled, so one still in hand comes again with the next poll), the
benchmark process' own CPU (stand-in and load generator), and replies that were errors.

The ceiling: `bench/echo_bot.py`, a bare PTB 22 Application with PTB's own long polling, the
same request backend (handlers/aiohttp_request.py), event loop (uvloop) and number of concurrent
updates (64) as the bot; it answers a text with its text and Enig/Uenig buttons, and a press with
answerCallbackQuery and one message. It gets the same updates through a fresh stand-in. Runs
alternate (echo, bot, echo, bot, ... `--rounds`), so that a change in the load of this shared VM
hits both alike; `ratio` = the bot's median updates/s / the echo bot's. Targets: ratio >= 0.6,
>= 500 updates/s and <= 150 MB peak RSS; the exit status is 0 when every run completed, whatever
the figures, 1 when one timed out or replies were lost.

`--profile FILE` samples the bot with py-spy (`.venv/bin/pip install py-spy`) during its last timed
run and writes folded stacks (flamegraph.pl or speedscope read them). py-spy counts the SQLite
driver's thread as busy while it waits for work (`_connection_worker_thread`): leave it out.

The stand-in sets TCP_NODELAY and a listen backlog of 128 itself, like a real server: without
them it added ~40 ms to every Bot API call and reset connections when the bot opened many.

Bounded: loopback only; the bot is stopped with SIGTERM (killed if it does not exit) and each
run gives up after --timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram, FakeUser, SentMessage  # noqa: E402

TARGET_UPDATES_PER_SECOND = 500
TARGET_RSS_MB = 150
TARGET_RATIO = 0.6  # of the bare PTB echo bot's updates/s, measured in the same run
ERROR_TEXTS = ("Beklager, noe gikk galt", "Beklager, jeg klarte ikke å lagre")


def proc_status(pid: int, key: str) -> int | None:
    """A kB figure from /proc/<pid>/status (VmHWM, VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (from /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_questions() -> list[str]:
    path = ROOT / "tests" / "data" / "questions-a.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line)["text"])
    return out


@dataclass
class Tally:
    """What the stand-in saw, read from its call log as it grows."""

    fake: FakeTelegram
    index: int = 0
    replies: int = 0
    failed_calls: int = 0
    error_replies: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    last_reply_time: float = 0.0
    answers: list[SentMessage] = field(default_factory=list)  # with Enig/Uenig, not yet pressed
    polls: int = 0  # getUpdates calls answered
    delivered: int = 0  # updates in their answers (an update not yet confirmed comes again)

    def poll(self) -> list[SentMessage]:
        """Consume new calls; returns the new answers that carry Enig/Uenig buttons."""
        calls: list[Call] = self.fake.calls
        new_answers = []
        while self.index < len(calls):
            call = calls[self.index]
            self.index += 1
            if call.method == "getUpdates":
                if call.ok is None:  # a long poll still waiting: look again later
                    self.index -= 1
                    break
                if isinstance(call.result, list):
                    self.polls += 1
                    self.delivered += len(call.result)
                continue
            if call.method not in ("sendMessage", "editMessageText"):
                if call.ok is False:
                    self.failed_calls += 1
                continue
            self.replies += 1
            self.last_reply_time = max(self.last_reply_time, call.time)
            if not call.ok or call.message is None:
                self.failed_calls += 1
                continue
            text = call.message.plain_text or ""
            if text.startswith(ERROR_TEXTS):
                self.error_replies += 1
                kind = text.split(".")[0]
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
            if any(label == "Enig" for label, _ in call.message.buttons()):
                new_answers.append(call.message)
        return new_answers


def press(
    fake: FakeTelegram, users: dict[int, FakeUser], rng: random.Random, msg: SentMessage
) -> None:
    label = "Enig" if rng.random() < 0.5 else "Uenig"
    fake.press_button(users[msg.chat_id], msg, msg.button(label))


def start_bot(fake: FakeTelegram, workdir: Path) -> subprocess.Popen[bytes]:
    return harness.start_bot(fake.base_url, fake.token, workdir)


def start_echo(fake: FakeTelegram, workdir: Path) -> subprocess.Popen[bytes]:
    """The ceiling: a bare PTB echo bot (bench/echo_bot.py) on the same request backend."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
    env.update(ECHO_TOKEN=fake.token, ECHO_BASE_URL=fake.base_url)
    return harness.spawn([sys.executable, str(ROOT / "bench" / "echo_bot.py")], env, workdir)


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy) sampling the process during the timed window; `--format raw`
    output is folded stacks (flamegraph.pl, speedscope), counted per function by `--top`."""
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "-o",
            str(out),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached before the first update is queued
    return spy


def stop_bot(proc: subprocess.Popen[bytes]) -> int:
    return harness.stop_bot(proc, timeout=20)


def run(
    kind: str,
    n: int,
    n_users: int,
    vote_share: float,
    timeout: float,
    seed: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One timed run of `kind` ("bot": distriktsbot; "echo": the bare PTB echo bot)."""
    rng = random.Random(seed)
    questions = load_questions()
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp, FakeTelegram() as fake:
        workdir = Path(tmp)
        users = {uid: fake.user(uid, f"U{uid}") for uid in range(10_001, 10_001 + n_users)}
        user_ids = list(users)
        proc = (start_bot if kind == "bot" else start_echo)(fake, workdir)
        try:
            fake.wait_for_sync("setMyCommands", timeout=max(1.0, deadline - time.monotonic()))
            tally = Tally(fake)

            # warm-up (not timed): a few questions and votes through the whole path
            warm = min(50, n // 10)
            for i in range(warm):
                fake.send_text(users[user_ids[i % n_users]], questions[i % len(questions)])
            pressed = 0
            while tally.replies < warm + pressed and time.monotonic() < deadline:
                for answer in tally.poll():
                    if pressed < warm // 3:
                        press(fake, users, rng, answer)
                        pressed += 1
                time.sleep(0.002)
            if tally.replies < warm + pressed:
                raise TimeoutError("warm-up did not finish")

            # the timed run
            n_votes = round(n * vote_share)
            n_questions = n - n_votes
            base_replies = tally.replies
            base_polls, base_delivered = tally.polls, tally.delivered
            spy = start_profiler(proc.pid, profile) if profile else None
            cpu0 = proc_cpu_seconds(proc.pid)
            own0 = time.process_time()
            t0 = time.monotonic()
            for i in range(n_questions):
                uid = user_ids[(warm + i) % n_users]
                fake.send_text(users[uid], questions[(warm + i) % len(questions)])
            votes = 0
            pool: list[SentMessage] = []
            while time.monotonic() < deadline:
                new = tally.poll()
                pool.extend(new)
                for answer in new:
                    if votes < n_votes:
                        press(fake, users, rng, answer)
                        votes += 1
                done = tally.replies - base_replies
                if votes < n_votes and done >= n_questions + votes and pool:
                    # every question answered: press earlier answers again
                    while votes < n_votes:
                        press(fake, users, rng, rng.choice(pool))
                        votes += 1
                if done >= n:
                    break
                time.sleep(0.001)
            cpu1 = proc_cpu_seconds(proc.pid)
            own = time.process_time() - own0
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(timeout=30)
            done = tally.replies - base_replies
            elapsed = tally.last_reply_time - t0
            peak_kb = proc_status(proc.pid, "VmHWM")
            rss_kb = proc_status(proc.pid, "VmRSS")
        finally:
            code = stop_bot(proc)
        log = (workdir / "bot.log").read_text(errors="replace")
        log_tail = log[-2000:]
        problems: dict[str, int] = {}
        for line in log.splitlines():
            if " WARNING " in line or " ERROR " in line:
                key = line.split(" ", 2)[-1][:160]
                problems[key] = problems.get(key, 0) + 1
    return {
        "kind": kind,
        "updates": n,
        "questions": n_questions,
        "votes": n_votes,
        "users": n_users,
        "replies": done,
        "complete": done >= n,
        "seconds": elapsed,
        "updates_per_second": done / elapsed if elapsed > 0 else 0.0,
        "peak_rss_mb": (peak_kb or 0) / 1024,
        "rss_mb": (rss_kb or 0) / 1024,
        "bot_cpu_seconds": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "bench_cpu_seconds": own,
        "polls": tally.polls - base_polls,
        "delivered": tally.delivered - base_delivered,
        "failed_calls": tally.failed_calls,
        "error_replies": tally.error_replies,
        "error_kinds": tally.error_kinds,
        "bot_log_problems": problems,
        "exit_status": code,
        "log_tail": log_tail,
    }


def cpu_ms(r: dict[str, Any]) -> float | None:
    cpu = r["bot_cpu_seconds"]
    return 1000 * cpu / max(1, r["replies"]) if cpu is not None else None


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--updates", type=int, default=3000, help="updates to time (3000)")
    p.add_argument("--quick", action="store_true", help="500 updates, one round")
    p.add_argument(
        "--burst",
        type=int,
        default=None,
        metavar="N",
        help="a burst: N questions queued at once, no votes (peak RSS must stay <= 150 MB)",
    )
    p.add_argument("--users", type=int, default=None, help="distinct users (default N/3)")
    p.add_argument("--votes", type=float, default=0.3, help="share of votes (0.3)")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="echo-then-bot rounds (2; 1 with --quick or --burst)",
    )
    p.add_argument("--no-echo", action="store_true", help="the bot only, no ceiling runs")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after (300 s) per run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="sample the bot with py-spy during its (last) timed run; folded stacks to FILE",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = p.parse_args()
    n = 500 if args.quick else args.updates
    if args.burst:
        n, args.votes = args.burst, 0.0
    n_users = args.users or max(50, n // 3)
    rounds = args.rounds or (1 if args.quick or args.burst else 2)
    kinds = ["bot"] if args.no_echo else ["echo", "bot"]

    results: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    for _ in range(rounds):
        for kind in kinds:  # alternating, so a change in the VM's load hits both alike
            profile = args.profile if kind == "bot" else None
            results.append(run(kind, n, n_users, args.votes, args.timeout, args.seed, profile))
    load_after = os.getloadavg()

    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    print(f"CPU: {harness.cpu_model()} ({os.cpu_count()} CPUs), Python {platform.python_version()}")
    print(
        f"load average (1/5/15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print()
    print(
        "| run | updates | questions / votes | users | updates/s | peak RSS | CPU "
        "| getUpdates (updates delivered) | stand-in + load CPU | errors |"
    )
    print("|---|---:|---|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        cpu, ms = r["bot_cpu_seconds"], cpu_ms(r)
        busy = (
            f"{cpu:.1f} s ({100 * cpu / r['seconds']:.0f} % of one core, {ms:.2f} ms/update)"
            if cpu is not None and ms is not None and r["seconds"] > 0
            else "?"
        )
        errors = r["failed_calls"] + r["error_replies"]
        print(
            f"| {r['kind']} | {r['replies']}/{r['updates']} | {r['questions']} / {r['votes']} "
            f"| {r['users']} | {r['updates_per_second']:.0f} | {r['peak_rss_mb']:.0f} MB "
            f"| {busy} | {r['polls']} ({r['delivered']}) "
            f"| {100 * r['bench_cpu_seconds'] / max(1e-9, r['seconds']):.0f} % | {errors} |"
        )
    print()
    summary: dict[str, dict[str, float]] = {}
    for kind in kinds:
        mine = [r for r in results if r["kind"] == kind]
        summary[kind] = {
            "updates_per_second": median([r["updates_per_second"] for r in mine]),
            "cpu_ms_per_update": median([m for r in mine if (m := cpu_ms(r)) is not None] or [0]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
        }
        s = summary[kind]
        print(
            f"{kind:>4}: median {s['updates_per_second']:.0f} updates/s, "
            f"{s['cpu_ms_per_update']:.2f} ms CPU/update, peak RSS {s['peak_rss_mb']:.0f} MB "
            f"(over {len(mine)} run(s))"
        )
    bot = summary["bot"]
    print(f" bot targets: >= {TARGET_UPDATES_PER_SECOND} updates/s, <= {TARGET_RSS_MB} MB peak RSS")
    if "echo" in summary:
        echo = summary["echo"]
        ratio = bot["updates_per_second"] / max(1e-9, echo["updates_per_second"])
        pairs = [
            b["updates_per_second"] / max(1e-9, e["updates_per_second"])
            for e, b in zip(results[0::2], results[1::2], strict=True)
        ]
        print(
            f"ratio = bot / echo = {ratio:.2f} (per round: {', '.join(f'{x:.2f}' for x in pairs)};"
            f" target >= {TARGET_RATIO}); CPU per update bot / echo = "
            f"{bot['cpu_ms_per_update'] / max(1e-9, echo['cpu_ms_per_update']):.2f}"
        )
    print()
    print(f"command: {command}")
    failed = False
    for r in results:
        errors = r["failed_calls"] + r["error_replies"]
        if errors:
            print(f"{r['kind']}: error replies: {r['error_kinds']}; it logged:")
            for line, count in sorted(r["bot_log_problems"].items(), key=lambda kv: -kv[1])[:8]:
                print(f"  {count} x {line}")
        if not r["complete"] or r["failed_calls"]:
            print(f"{r['kind']} did not answer every update; its log ends with:", file=sys.stderr)
            print(r["log_tail"], file=sys.stderr)
            failed = True
    if args.json:
        print(
            json.dumps(
                {
                    "summary": summary,
                    "runs": [{k: v for k, v in r.items() if k != "log_tail"} for r in results],
                },
                indent=2,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
