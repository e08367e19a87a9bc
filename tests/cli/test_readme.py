"""The README says what the code does: set-up commands, exit codes, commands, worker examples."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ironship import exitcodes

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SEP = "MAGICALSTDOUTSEPARATOR"
PRELUDE = ROOT / "ironship" / "engine" / "run" / "shims" / "ironworker_prelude.php"


def code_block(after: str, language: str) -> str:
    """The first ```language block after the text ``after``."""
    start = README.index(after)
    match = re.search(rf"```{language}\n(.*?)```", README[start:], re.DOTALL)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """The README's "run the tests" command is the line .ci/run runs."""
    command = code_block("Run the tests", "sh").strip()
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_exit_code_table_matches_exitcodes() -> None:
    """Every code in ironship/exitcodes.py is in the README's table, and no other."""
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    defined = {v for k, v in vars(exitcodes).items() if k.isupper() and isinstance(v, int)}
    assert documented == defined


def test_command_table_names_every_command_and_json_option() -> None:
    """The command table lists every command, and --json where queue, task and status have it."""
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for command in ("validate", "schema", "files", "package", "plan", "apply", "test", "queue"):
        assert f"`ironship {command}" in table, command
    for command in ("status", "task", "log", "cancel", "server"):
        assert f"`ironship {command}" in table, command
    lines = [line for line in table.splitlines() if line.startswith("| `ironship")]
    rows = {line.split("`")[1].split()[1]: line for line in lines}
    for flag in ("--json", "--priority", "--delay", "--timeout", "--wait-timeout"):
        assert flag in rows["queue"], flag
    assert "--json" in rows["task"] and "--json" in rows["status"]


def test_python_worker_example_prints_the_sequence(tmp_path: Path) -> None:
    """The README's Python worker, run as IronWorker runs it, prints the Fibonacci sequence."""
    (tmp_path / "worker.py").write_text(code_block("In Python, read the arguments", "python"))
    (tmp_path / "payload.json").write_text('{"max": 100}')
    args = ["-id", "t1", "-payload", str(tmp_path / "payload.json"), "-d", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "worker.py", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.split(SEP)[1]) == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed")
def test_php_worker_example_prints_the_sequence(tmp_path: Path) -> None:
    """The README's PHP worker, with the engine's IronWorker helpers, prints the sequence."""
    (tmp_path / "worker.php").write_text(code_block("In PHP, the runtime defines", "php"))
    (tmp_path / "payload.json").write_text('{"max": 100}')
    php = [str(shutil.which("php")), "-d", f"auto_prepend_file={PRELUDE}", "worker.php"]
    args = ["-payload", str(tmp_path / "payload.json"), "-id", "t1", "-d", str(tmp_path)]
    done = subprocess.run([*php, *args], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.split(SEP)[1]) == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
