"""The files in deploy/ are valid for the tools that read them and agree with the command line.

(deploy/nginx.conf is checked by `nginx -t` and used for real in tests/test_scale_out.py.)
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/distriktsbot/.venv/bin/distriktsbot"
UNITS = ("distriktsbot@.service", "distriktsbot-deploy.service", "distriktsbot.service")


def exec_start(unit: str) -> list[str]:
    [line] = [x for x in (DEPLOY / unit).read_text().splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart=").replace("%i", "8001"))


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_run_commands_the_command_line_has(unit: str) -> None:
    command = exec_start(unit)
    assert command[0] == INSTALLED
    args = _parser().parse_args(command[1:])
    assert args.command in ("run", "deploy")
    assert args.config == "/etc/distriktsbot/config.yaml"
    if unit == "distriktsbot@.service":
        assert args.command == "run" and args.port == 8001


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    script = Path(sys.executable).parent / "distriktsbot"
    names = []
    for unit in (*UNITS, "distriktsbot.target"):
        text = (DEPLOY / unit).read_text().replace(INSTALLED, str(script))
        name = unit.replace("@.", "@8001.")
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # the units name the service user, which this machine need not have
        if line.strip() and "distriktsbot" in line and "user" not in line.lower()
    ]
    assert problems == [], done.stdout + done.stderr


def test_the_tmpfiles_entry_makes_the_metrics_directory_of_the_units() -> None:
    unit = (DEPLOY / "distriktsbot@.service").read_text()
    [env] = [x for x in unit.splitlines() if x.startswith("Environment=PROMETHEUS_MULTIPROC_DIR")]
    directory = env.split("=", 2)[2]
    tmpfiles = (DEPLOY / "distriktsbot.tmpfiles").read_text().split()
    assert directory in tmpfiles
