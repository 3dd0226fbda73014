"""The repository stands on its own: nothing the code, the tests or the benchmarks read lies
outside it, and the README's fresh-machine commands are the ones CI runs.

`.ci/run` proves the first point for real (the tests run with the shared folder replaced by an
empty one); this test keeps it true wherever the tests run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import DEV_QUESTIONS, QUESTIONS_A, ROOT, SOURCE_TEXT

# built from pieces, so that this file does not match itself
OUTSIDE = re.compile("|".join([r"/" + "work/", r"\.\./" + "shared", r"/" + "shared/"]))
CODE_DIRS = ("bot", "handlers", "tests", "bench")


def python_sources() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def test_no_code_test_or_benchmark_names_a_path_outside_the_repository() -> None:
    sources = python_sources()
    assert any(p.parent.name == "bench" for p in sources)  # the scan reaches the benchmarks
    found = [
        f"{path.relative_to(ROOT)}:{no}: {line.strip()}"
        for path in sources
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "paths outside the repository:\n" + "\n".join(found)


def test_what_the_tests_read_is_in_the_repository() -> None:
    for path in (SOURCE_TEXT, DEV_QUESTIONS, QUESTIONS_A):
        assert path.is_relative_to(ROOT)
        assert path.stat().st_size > 1000, path


def test_ci_runs_the_readme_fresh_machine_commands_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert len(commands) == 2, commands
    assert "distriktsbot chat" in commands[0] and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert f'"{command}"' in ci, f"{command!r} is not what .ci/run runs"
    # and .ci/run runs both of them with the shared folder out of reach
    assert 'without_shared "$TESTS"' in ci and 'without_shared "$CHAT"' in ci
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)
