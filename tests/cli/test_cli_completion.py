"""Shell completion: commands, options, worker and environment names, never an error.

typer answers a completion request when ``_IRONSHIP_COMPLETE`` is set (``complete_bash``,
``complete_zsh``, ``complete_fish``), reading the words typed so far from ``COMP_WORDS`` and
``COMP_CWORD`` (bash) or ``_TYPER_COMPLETE_ARGS`` (zsh, fish): the variables the scripts of
``ironship --show-completion`` set (https://typer.tiangolo.com/tutorial/options-autocompletion/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Run, run_cli, write_tree

MANIFEST = """\
version: 1
workers:
  fib: {root: a, entry: main.py}
  fetch: {root: a, entry: main.py}
  mailer: {root: a, entry: main.py}
environments:
  staging: {}
  production: {}
"""
OTHER = "version: 1\nworkers:\n  elsewhere: {root: a, entry: main.py}\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "other.yml": OTHER, "a/main.py": ""})
    return tmp_path


def bash(
    line: str,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """What bash completion offers for ``line`` (the cursor at its end)."""
    words = line.split(" ")
    env = {
        "_IRONSHIP_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    res = run_cli([], capsys, monkeypatch, env=env, cwd=folder)
    assert res.code == 0 and res.err == "", res
    return res.out.split()


def test_commands_and_options(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Command names and a command's options complete."""
    assert bash("ironship lo", folder, capsys, monkeypatch) == ["log", "logs"]
    assert "run" in bash("ironship r", folder, capsys, monkeypatch)
    options = bash("ironship run fib --p", folder, capsys, monkeypatch)
    assert options == ["--payload", "--parallelism"]


def test_worker_names_come_from_the_manifest(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORKER arguments and --only complete the manifest's workers; -f picks the manifest."""
    assert bash("ironship run f", folder, capsys, monkeypatch) == ["fib", "fetch"]
    assert bash("ironship logs ", folder, capsys, monkeypatch) == ["fib", "fetch", "mailer"]
    assert bash("ironship history m", folder, capsys, monkeypatch) == ["mailer"]
    assert bash("ironship test fib f", folder, capsys, monkeypatch) == ["fib", "fetch"]
    assert bash("ironship plan --only m", folder, capsys, monkeypatch) == ["mailer"]
    other = bash("ironship run -f other.yml ", folder, capsys, monkeypatch)
    assert other == ["elsewhere"]


def test_environment_names_and_statuses(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--env, promote's --from/--to and --status complete their values."""
    assert bash("ironship plan --env ", folder, capsys, monkeypatch) == ["staging", "production"]
    assert bash("ironship promote --to p", folder, capsys, monkeypatch) == ["production"]
    assert bash("ironship tasks fib --status c", folder, capsys, monkeypatch) == [
        "cancelled",
        "complete",
    ]


@pytest.mark.parametrize(
    "text",
    ["workers: [unclosed", "just a string", "workers:\n  - a list\n", "\x00\x01binary"],
)
def test_a_broken_manifest_completes_nothing_and_says_nothing(
    text: str,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Completing never fails or prints an error, whatever the manifest holds."""
    (folder / "ironship.yml").write_text(text)
    assert bash("ironship run ", folder, capsys, monkeypatch) == []
    assert bash("ironship plan --env ", folder, capsys, monkeypatch) == []
    (folder / "ironship.yml").unlink()
    assert bash("ironship run ", folder, capsys, monkeypatch) == []


def run_shell(
    shell: str, line: str, folder: Path, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> Run:
    env = {"_IRONSHIP_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return run_cli([], capsys, mp, env=env, cwd=folder)


def test_zsh_and_fish_complete_worker_names(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """zsh and fish get the same names, in their own formats."""
    zsh = run_shell("zsh", "ironship run f", folder, capsys, monkeypatch)
    assert zsh.code == 0 and '"fib"' in zsh.out and '"fetch"' in zsh.out
    fish = run_shell("fish", "ironship run f", folder, capsys, monkeypatch)
    assert fish.code == 0 and fish.out.split() == ["fib", "fetch"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_the_script(
    shell: str, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--show-completion SHELL prints the script that asks ironship for completions."""
    env = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    res = run_cli(["--show-completion", shell], capsys, monkeypatch, env=env, cwd=folder)
    assert res.code == 0
    assert f"complete_{shell}" in res.out and "_IRONSHIP_COMPLETE" in res.out
