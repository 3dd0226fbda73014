"""Load test of the deployed shape: updates POSTed to the webhook endpoint through a real nginx
(deploy/nginx.conf, HTTPS on loopback), `distriktsbot run` webhook processes behind it.

Run from the repository root (nginx and openssl are installed with apt-get when missing;
PostgreSQL at DISTRIKTSBOT_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test,
gets a throw-away database per setup):

    .venv/bin/python bench/bench_load.py            # every setup, 6,000 updates each
    .venv/bin/python bench/bench_load.py --quick    # 1,500 updates each
    .venv/bin/python bench/bench_load.py --setups pg2 -n 20000

Setups, measured one after the other in the same run:

- ``ceiling``: a minimal webhook server in the same harness (parse the update, one sendMessage,
  200): what the load generator, nginx and the stand-in Bot API allow on this machine;
- ``sqlite1``: one bot process on SQLite; ``pg1`` / ``pg2``: one / two processes on PostgreSQL.

Each setup runs two phases:

1. **throughput**: ``-n`` updates from ``--users`` simulated users, as fast as they are
   answered, ``--concurrency`` in flight at once (Telegram's max_connections is 40 by
   default), never two of one user at once (Telegram waits for a chat's confirmation);
2. **latency at a fixed rate**: ``--rate`` updates/s (300) for ``--seconds`` (10), open loop.

The mix is 70 % questions (tests/data/questions-a.jsonl, cycled) and 30 % Enig/Uenig presses,
each on a distinct (user, topic), so that afterwards every vote must be a row in the database.
The reply latency is the time from the POST until its 200, which the bot sends only once the
update is handled and its reply delivered to the Bot API. The Bot API is a minimal stand-in
process (aiohttp) that answers every call at once and counts the replies; "errors" are non-200
answers, replies that are the bot's error texts, and updates without exactly one reply.
RSS is each bot process's peak (VmHWM). All loopback, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench import harness  # noqa: E402
from tests.nginx import Nginx, free_port  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
HASH_SECRET = harness.HASH_SECRET
WEBHOOK_SECRET = "bench-webhook-secret"
PG_ADMIN_URL = os.environ.get(
    "DISTRIKTSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TOPICS = (
    "kommuneokonomi bo-trygt-hjemme fergetakster bredband ladestasjoner hurtigladere "
    "naeringspolitikk landbruk gront-industriloft naertjenestesentre statlige-arbeidsplasser "
    "by-og-land"
).split()
ERROR_TEXTS = ("Beklager",)
TARGETS = {"updates_per_second_pg2": 1000, "p99_ms_at_rate": 50, "rss_mb": 150}


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# --------------------------------------------------------------------------------------------
# The stand-in Bot API (its own process): answers at once, counts replies per chat
# --------------------------------------------------------------------------------------------


def run_sink(port: int) -> None:
    replies: dict[int, int] = {}
    errors = 0
    calls = 0
    next_id = 0

    async def api(request: web.Request) -> web.Response:
        nonlocal errors, calls, next_id
        method = request.match_info["method"]
        calls += 1
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = dict(await request.post())
        if method == "getMe":
            result: Any = {
                "id": 123456,
                "is_bot": True,
                "first_name": "Distriktsbot",
                "username": "distriktsbot_bench_bot",
            }
        elif method == "sendMessage":
            chat_id = int(params["chat_id"])
            text = str(params.get("text", ""))
            replies[chat_id] = replies.get(chat_id, 0) + 1
            if text.startswith(ERROR_TEXTS):
                errors += 1
            next_id += 1
            result = {
                "message_id": next_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": "ok",
            }
        elif method == "getWebhookInfo":
            result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"replies": replies, "errors": errors, "calls": calls})

    async def reset(request: web.Request) -> web.Response:
        nonlocal errors, calls
        replies.clear()
        errors = calls = 0
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    _use_uvloop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def run_echo(port: int, sink: str) -> None:
    """The ceiling: the least a webhook bot can do per update (one sendMessage, then 200)."""

    async def on_startup(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def on_cleanup(app: web.Application) -> None:
        await app["session"].close()

    async def hook(request: web.Request) -> web.Response:
        data = await request.json()
        body = data.get("message") or data["callback_query"]["message"]
        async with request.app["session"].post(
            f"{sink}/bot{TOKEN}/sendMessage",
            data={"chat_id": str(body["chat"]["id"]), "text": "ok"},
        ) as response:
            await response.read()
        return web.Response(status=200)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/telegram", hook)
    app.router.add_get("/healthz", health)
    _use_uvloop()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def proc_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(0.1)


def pg_create() -> tuple[str, str]:
    import asyncpg
    from sqlalchemy import make_url

    name = f"distriktsbot_bench_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


def pg_drop(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def count_votes(database_url: str) -> int:
    async def count() -> int:
        from sqlalchemy import func, select

        from bot.storage import Storage
        from bot.storage.schema import VoteRow

        storage = await Storage.open(database_url, migrate=False)
        try:
            async with storage.db.engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(VoteRow)) or 0)
        finally:
            await storage.close()

    return asyncio.run(count())


# --------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------


@dataclass
class Load:
    questions: list[str]
    users: int
    rng: random.Random
    base: int = 1_000_000  # user ids start here
    next_update: int = 1
    voted: dict[int, int] = field(default_factory=dict)  # user -> topics voted so far
    votes: int = 0
    sent: int = 0

    def update(self, user: int) -> dict[str, Any]:
        self.next_update += 1
        self.sent += 1
        chat = {"id": user, "type": "private", "first_name": "U"}
        person = {"id": user, "is_bot": False, "first_name": "U"}
        k = self.voted.get(user, 0)
        if self.rng.random() < 0.3 and k < len(TOPICS):
            self.voted[user] = k + 1
            self.votes += 1
            data = f"{'ja' if self.rng.random() < 0.5 else 'nei'}:{TOPICS[(user + k) % 12]}"
            return {
                "update_id": self.next_update,
                "callback_query": {
                    "id": str(self.next_update),
                    "from": person,
                    "chat_instance": "1",
                    "data": data,
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "chat": chat,
                        "from": {"id": 123456, "is_bot": True, "first_name": "Distriktsbot"},
                        "text": "…",
                    },
                },
            }
        text = self.questions[self.next_update % len(self.questions)]
        return {
            "update_id": self.next_update,
            "message": {
                "message_id": self.next_update,
                "date": int(time.time()),
                "chat": chat,
                "from": person,
                "text": text,
            },
        }


@dataclass
class Phase:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def post(session: aiohttp.ClientSession, url: str, update: dict[str, Any], ph: Phase) -> None:
    ph.sent += 1
    t0 = time.perf_counter()
    try:
        async with session.post(
            url,
            data=json.dumps(update),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            },
        ) as response:
            await response.read()
            ok = response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    ph.latencies.append(time.perf_counter() - t0)
    if ok:
        ph.ok += 1
    else:
        ph.failed += 1


async def throughput(url: str, load: Load, n: int, concurrency: int) -> Phase:
    ph = Phase()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    counter = iter(range(n))

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, ssl=context),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as session:

        async def worker(w: int) -> None:
            mine = list(range(w, load.users, concurrency))  # a user is never in flight twice
            for i in counter:
                user = load.base + mine[i % len(mine)]
                await post(session, url, load.update(user), ph)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        ph.seconds = time.perf_counter() - t0
    return ph


async def fixed_rate(url: str, load: Load, rate: float, seconds: float) -> Phase:
    ph = Phase()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    idle = list(range(load.users))
    load.rng.shuffle(idle)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, ssl=context),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as session:

        async def one(user: int) -> None:
            try:
                await post(session, url, load.update(load.base + user), ph)
            finally:
                idle.append(user)

        t0 = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not idle:
                ph.failed += 1  # every user busy: the bot fell behind the rate
                continue
            task = asyncio.create_task(one(idle.pop(0)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        ph.seconds = time.perf_counter() - t0
    return ph


# --------------------------------------------------------------------------------------------
# One setup
# --------------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(x) for x in found]


def harness_cpu(sink_pid: int, nginx_pid: int | None) -> float:
    """CPU seconds used so far by the load generator (this process), the stand-in Bot API and
    nginx (master and workers): the harness's share of the machine."""
    mine = os.times()
    total = mine.user + mine.system + proc_cpu(sink_pid)
    if nginx_pid is not None:
        total += sum(proc_cpu(p) for p in [nginx_pid, *children(nginx_pid)])
    return total


def run_setup(
    name: str,
    args: argparse.Namespace,
    sink_port: int,
    sink_pid: int,
    workdir: Path,
    questions: list[str],
) -> dict[str, Any]:
    folder = workdir / name
    folder.mkdir()
    processes = 2 if name == "pg2" else 1
    ports = [free_port() for _ in range(processes)]
    pg_name = None
    database_url = f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    procs: list[subprocess.Popen[bytes]] = []
    sink = f"http://127.0.0.1:{sink_port}"
    nginx = Nginx(folder / "nginx", ports)
    result: dict[str, Any] = {"setup": name, "processes": processes}
    try:
        if name.startswith("pg"):
            pg_name, database_url = pg_create()
        if name == "ceiling":
            procs.append(
                spawn(
                    [sys.executable, __file__, "--echo", str(ports[0]), sink], folder / "echo.log"
                )
            )
        else:
            config = folder / "config.yaml"
            config.write_text(
                json.dumps(
                    {
                        "telegram": {
                            "base_url": f"{sink}/bot",
                            "mode": "webhook",
                            "webhook": {"url": "https://bot.example.org/telegram"},
                        },
                        "database": {"url": database_url},
                        "knowledge": str(ROOT / "knowledge"),
                        "log_level": "WARNING",
                    }
                ),
                encoding="utf-8",
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
            env.update(
                DISTRIKTSBOT_TOKEN=TOKEN,
                DISTRIKTSBOT_HASH_SECRET=HASH_SECRET,
                DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET,
                PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"),
            )
            (folder / "metrics").mkdir()
            deploy = subprocess.run(
                [sys.executable, "-m", "bot", "--config", str(config), "deploy"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if deploy.returncode != 0:
                raise RuntimeError(f"deploy failed: {deploy.stderr}")
            for i, port in enumerate(ports):
                python = [sys.executable]
                if args.profile:  # cProfile of each bot process, written when it exits
                    out = Path(args.profile) / f"{name}-{i}.prof"
                    python += ["-m", "cProfile", "-o", str(out)]
                procs.append(
                    spawn(
                        [*python, "-m", "bot", "--config", str(config), "run", "--port",
                         str(port)],
                        folder / f"bot-{i}.log",
                        env,
                    )
                )  # fmt: skip
        for port in ports:
            asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz"))
        nginx.start()
        url = f"{nginx.url}/telegram"
        load = Load(questions, args.users, random.Random(args.seed))

        async def reset() -> None:
            async with aiohttp.ClientSession() as s, s.post(f"{sink}/reset") as r:
                await r.read()

        async def stats() -> dict[str, Any]:
            async with aiohttp.ClientSession() as s, s.get(f"{sink}/stats") as r:
                return dict(await r.json())

        # warm-up (not counted)
        warm = Load(questions, 200, random.Random(0), base=5_000_000, next_update=10_000_000)
        asyncio.run(throughput(url, warm, 300, 16))
        asyncio.run(reset())
        nginx_pid = nginx.proc.pid if nginx.proc else None
        cpu0 = [proc_cpu(p.pid) for p in procs]
        harness0 = harness_cpu(sink_pid, nginx_pid)
        ph1 = asyncio.run(throughput(url, load, args.updates, args.concurrency))
        cpu1 = [proc_cpu(p.pid) for p in procs]
        harness1 = harness_cpu(sink_pid, nginx_pid)
        ph2 = asyncio.run(fixed_rate(url, load, args.rate, args.seconds))
        sink_stats = asyncio.run(stats())
        replies = sum(sink_stats["replies"].values())
        answered_once = replies == ph1.ok + ph2.ok
        stored = count_votes(database_url) if name != "ceiling" else None
        result.update(
            updates=ph1.sent,
            updates_per_second=ph1.ok / ph1.seconds if ph1.seconds else 0.0,
            p50_ms=ph1.percentile(50),
            p99_ms=ph1.percentile(99),
            rate=args.rate,
            rate_sent=ph2.sent,
            rate_p50_ms=ph2.percentile(50),
            rate_p99_ms=ph2.percentile(99),
            errors=ph1.failed + ph2.failed + sink_stats["errors"] + (0 if answered_once else 1),
            non_200=ph1.failed + ph2.failed,
            error_replies=sink_stats["errors"],
            replies=replies,
            answered=ph1.ok + ph2.ok,
            votes_sent=load.votes + warm.votes,
            votes_stored=stored,
            rss_mb=[round(proc_kb(p.pid, "VmHWM") / 1024) for p in procs],
            cpu_ms_per_update=(
                1000 * sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) / max(1, ph1.ok)
            ),
            harness_cpu_ms_per_update=1000 * (harness1 - harness0) / max(1, ph1.ok),
        )
    finally:
        nginx.stop()
        for proc in procs:
            stop(proc)
        if pg_name:
            pg_drop(pg_name)
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--sink":
        run_sink(int(sys.argv[2]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--echo":
        run_echo(int(sys.argv[2]), sys.argv[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--updates", type=int, default=6000, help="updates per setup (6000)")
    p.add_argument("--quick", action="store_true", help="1,500 updates, 5 s at the rate")
    p.add_argument("--users", type=int, default=3000, help="simulated users (3000)")
    p.add_argument("--concurrency", type=int, default=40, help="updates in flight (40)")
    p.add_argument("--rate", type=float, default=300.0, help="fixed-rate phase, updates/s")
    p.add_argument("--seconds", type=float, default=10.0, help="fixed-rate phase length")
    p.add_argument("--setups", default="ceiling,sqlite1,pg1,pg2")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", metavar="DIR", help="write a cProfile of each bot process here")
    args = p.parse_args()
    if args.quick:
        args.updates, args.seconds = 1500, 5.0
    questions = [
        json.loads(line)["text"]
        for line in (ROOT / "tests" / "data" / "questions-a.jsonl").read_text().splitlines()
        if line.strip()
    ]
    _use_uvloop()
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        sink_port = free_port()
        sink = spawn([sys.executable, __file__, "--sink", str(sink_port)], workdir / "sink.log")
        try:
            asyncio.run(wait_http(f"http://127.0.0.1:{sink_port}/stats"))
            for name in args.setups.split(","):
                print(f"... {name}", file=sys.stderr, flush=True)
                results.append(run_setup(name, args, sink_port, sink.pid, workdir, questions))
        finally:
            stop(sink)
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    print(f"CPU: {harness.cpu_model()} ({os.cpu_count()} CPUs), Python {platform.python_version()}")
    print(f"command: {command}")
    after = os.getloadavg()
    print(
        f"load average (1 min) before / after: {load_before[0]:.1f} / {after[0]:.1f} "
        f"on {os.cpu_count()} CPUs (other work on the machine slows every figure)"
    )
    print()
    print(
        "| setup | processes | updates/s | p50 ms | p99 ms | p50 / p99 ms at "
        f"{args.rate:.0f}/s | errors | votes stored | peak RSS MB | bot CPU ms/update "
        "| harness CPU ms/update |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        stored = "—" if r["votes_stored"] is None else f"{r['votes_stored']}/{r['votes_sent']}"
        print(
            f"| {r['setup']} | {r['processes']} | {r['updates_per_second']:,.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['rate_p50_ms']:.1f} / {r['rate_p99_ms']:.1f} | {r['errors']} | {stored} "
            f"| {', '.join(str(x) for x in r['rss_mb'])} | {r['cpu_ms_per_update']:.2f} "
            f"| {r['harness_cpu_ms_per_update']:.2f} |"
        )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
