"""What --help shows: flags without a type tag, and help text for every option."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from cli_support import run_cli


def option_line(help_text: str, option: str) -> str:
    """The first line of a help panel that names ``option``."""
    for line in help_text.splitlines():
        if re.search(rf"{re.escape(option)}\b", line):
            return line
    raise AssertionError(f"{option} not in the help:\n{help_text}")


def test_flags_show_no_type(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply --help` shows no `<bool>` or other `<type>` tag; values get a plain name."""
    res = run_cli(["apply", "--help"], capsys, monkeypatch)
    assert res.code == 0, res.err
    assert "<bool>" not in res.out and not re.search(r"<[a-z][a-z\[\] ]*>", res.out), res.out
    for flag in ("--yes", "--prune", "--json", "--rollback-on-failure", "--help"):
        # right after the flag (and its short form) comes the help text, not a TYPE or <type>
        assert not re.search(rf"{flag}\s+(-\w\s+)?(<|[A-Z]{{2,}}\b)", option_line(res.out, flag))
    assert re.search(r"--file\s+-f\s+FILE", option_line(res.out, "--file"))
    assert re.search(r"--data\s+DIR", option_line(res.out, "--data"))
    root = run_cli(["--help"], capsys, monkeypatch)
    assert "<bool>" not in root.out


def test_arguments_show_their_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An argument shows its name in capitals, with no type tag."""
    res = run_cli(["package", "--help"], capsys, monkeypatch)
    assert "[WORKERS]..." in res.out and "<list[str]>" not in res.out


def test_plan_parallelism_says_what_plan_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --help` explains --parallelism as downloads, not as uploads/tests."""
    res = run_cli(["plan", "--help"], capsys, monkeypatch)
    assert "uploads/tests" not in res.out
    assert "download" in res.out


def test_queue_options_have_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option of `queue` says what it does, --priority and --timeout included."""
    res = run_cli(["queue", "--help"], capsys, monkeypatch)
    assert "2 runs first" in option_line(res.out, "--priority")
    assert "Stop the task after" in option_line(res.out, "--timeout")
    assert "SECONDS" in option_line(res.out, "--delay")
    assert "--wait-timeout" in res.out


def test_help_has_no_escape_codes_with_no_color() -> None:
    """With NO_COLOR set, --help on a terminal has no escape codes (no colour, bold or dim)."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    done = subprocess.run(
        [sys.executable, "-m", "ironship", "apply", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--rollback-on-failure" in done.stdout and "\x1b[" not in done.stdout
