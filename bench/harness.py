"""What the benchmarks share: the machine's description, and one `distriktsbot run` process
against the stand-in Bot API (a fresh SQLite database, the shipped knowledge, secrets from the
environment as in production)."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HASH_SECRET = "bench-secret-0123456789abcdef0123"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def spawn(argv: list[str], env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """A process of the benchmark, its output in `workdir`/bot.log."""
    log = (workdir / "bot.log").open("wb")
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )


def start_bot(
    base_url: str, token: str, workdir: Path, admins: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """`distriktsbot run`, polling the stand-in at `base_url`."""
    config = workdir / "config.yaml"
    config.write_text(
        f"telegram:\n  base_url: {base_url}\n"
        f"database:\n  url: sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}\n"
        f"knowledge: {ROOT / 'knowledge'}\n"
        + (f"admins: [{', '.join(str(a) for a in admins)}]\n" if admins else "")
        + "log_level: WARNING\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIKTSBOT_")}
    env.update(DISTRIKTSBOT_TOKEN=token, DISTRIKTSBOT_HASH_SECRET=HASH_SECRET)
    return spawn([sys.executable, "-m", "bot", "--config", str(config), "run"], env, workdir)


def stop_bot(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, as a service manager stops it; killed if it does not exit in `timeout` s."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)
