"""A real nginx on loopback, configured from the project's own `deploy/nginx.conf`.

Used by the multi-process test and by `bench/bench_load.py`. Nothing is installed by hand:
when nginx (or openssl, for the test certificate) is missing, it is installed with apt-get
(`.ci/run` does the same up front). The site file is templated, not copied by hand: the
`listen` lines become one loopback port, the upstream's `server` lines the bot processes'
ports, the certificate paths a self-signed certificate made for the run; everything else
(locations, proxy settings, next-upstream rules) is the file as deployed. It runs in a
temporary prefix with its own pid, log and temp paths, as the current user.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
SITE_CONFIG = ROOT / "deploy" / "nginx.conf"
START_TIMEOUT = 15.0


class NginxUnavailable(RuntimeError):
    """nginx is missing and could not be installed."""


def _apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise NginxUnavailable(
            f"{' and '.join(packages)} missing and cannot be installed here "
            "(needs apt-get as root; `.ci/run` installs it)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode == 0 and args[1] == "install":
            return
    raise NginxUnavailable(f"apt-get install {' '.join(packages)} failed: {done.stderr[-500:]}")


def ensure_nginx() -> str:
    """The nginx binary, installed with apt-get when missing."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        _apt_install("nginx-light")
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    if shutil.which("openssl") is None:
        _apt_install("openssl")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def render_site(site: str, listen_port: int, upstreams: list[int], cert: Path, key: Path) -> str:
    """deploy/nginx.conf with loopback ports and the test certificate."""
    out, in_upstream, servers_done = [], False, False
    for line in site.splitlines():
        stripped = line.strip()
        if stripped.startswith("upstream distriktsbot"):
            in_upstream = True
        elif in_upstream and stripped.startswith("server "):
            if not servers_done:
                options = stripped.split(None, 2)[2] if len(stripped.split()) > 2 else ";"
                out += [f"    server 127.0.0.1:{port} {options}" for port in upstreams]
                servers_done = True
            continue
        elif in_upstream and stripped == "}":
            in_upstream = False
        elif stripped.startswith("listen "):
            if "[::]" in stripped:
                continue
            line = re.sub(r"listen\s+\S+", f"listen 127.0.0.1:{listen_port}", line, count=1)
        elif stripped.startswith("ssl_certificate_key "):
            line = f"    ssl_certificate_key {key};"
        elif stripped.startswith("ssl_certificate "):
            line = f"    ssl_certificate {cert};"
        out.append(line)
    if not servers_done:
        raise AssertionError("deploy/nginx.conf: no `upstream distriktsbot` with server lines")
    return "\n".join(out) + "\n"


def main_config(prefix: Path, site_file: Path) -> str:
    """A whole nginx.conf around the site: a temporary prefix, nothing outside it."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        "daemon off;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"    access_log off;\n{temp}\n"
        f"    include {site_file};\n"
        "}\n"
    )


class Nginx:
    """nginx in the foreground on 127.0.0.1:port (https) in front of ``upstreams``."""

    def __init__(self, prefix: Path, upstreams: list[int], port: int | None = None) -> None:
        self.binary = ensure_nginx()
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        cert, key = self_signed_certificate(prefix)
        site = render_site(SITE_CONFIG.read_text(encoding="utf-8"), self.port, upstreams, cert, key)
        site_file = prefix / "distriktsbot.conf"
        site_file.write_text(site, encoding="utf-8")
        self.config = prefix / "nginx.conf"
        self.config.write_text(main_config(prefix, site_file), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        args = [self.binary, "-p", str(self.prefix), "-c", str(self.config)]
        check = subprocess.run(
            [*args, "-t", "-e", str(self.prefix / "error.log")], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{check.stderr}")
        self.proc = subprocess.Popen(
            [*args, "-e", str(self.prefix / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"nginx did not start:\n{self.error_log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> Nginx:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
