"""``ironship validate`` on a valid manifest answers without typer, rich or jsonschema
(cli/quick.py), and says exactly what the typer command says; anything else goes to the typer
command unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import hello_project, run_cli

from ironship.cli.quick import parse
from ironship.cli.root import run

ENVIRONMENTS = "environments:\n  staging: {}\n  production: {}\n"

PROBE = r"""
import json, sys
from ironship.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("typer", "click", "rich", "pydantic", "jsonschema")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def write_project(folder: Path) -> Path:
    return hello_project(folder, ENVIRONMENTS)


def probe(args: list[str], cwd: Path, **env: str) -> tuple[int, list[str], str, str]:
    """``ironship ARGS`` in a fresh interpreter: exit code, heavy modules, stdout, stderr."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IRON", "NO_COLOR"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env={**base, "HOME": str(cwd), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    result = json.loads(lines[-1])
    return result["code"], result["loaded"], "\n".join(lines[:-1]), done.stderr


def test_a_valid_manifest_is_answered_without_the_cli_framework(tmp_path: Path) -> None:
    write_project(tmp_path)
    (tmp_path / ".ironship").mkdir()  # as a plan leaves it: verdicts are kept there
    probe(["validate"], tmp_path)  # the first check remembers the verdict
    code, loaded, out, err = probe(["validate"], tmp_path)
    assert (code, loaded, err) == (0, [], "")
    assert out == "ironship.yml: ok (1 worker(s), environments staging, production)"


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["-f", "ironship.yml"], {}, "ironship.yml: ok (1 worker(s), environments"),
        (["--file=./ironship.yml"], {}, "ironship.yml: ok (1 worker(s), environments"),
        (["-fironship.yml", "--env", "staging"], {}, "ok (1 worker(s), environment staging)"),
        (["--env=production"], {}, "ironship.yml: ok (1 worker(s), environment production)"),
        ([], {"IRONSHIP_ENV": "staging"}, "ironship.yml: ok (1 worker(s), environment staging)"),
        ([], {"IRONSHIP_FILE": "ironship.yml"}, "ironship.yml: ok (1 worker(s), environments"),
    ],
)
def test_each_spelling_of_the_options_says_what_typer_says(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    line: str,
) -> None:
    write_project(tmp_path)
    code, _, out, err = probe(["validate", *args], tmp_path, **env)
    assert code == 0 and err == "" and line in out
    # The typer command itself (cli/root.py, no quick path) prints the very same line.
    with monkeypatch.context() as m:
        m.chdir(tmp_path)
        for key, value in env.items():
            m.setenv(key, value)
        m.setenv("NO_COLOR", "1")
        with pytest.raises(SystemExit) as done:
            run(["validate", *args], _table())
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == out


def _table() -> tuple[tuple[str, str, str], ...]:
    from ironship.cli.app import _COMMANDS

    return _COMMANDS


def test_problems_go_to_the_typer_command_with_its_messages(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    path.write_text(path.read_text().replace("entry: main.py", "entry: nope.py"))
    code, loaded, out, err = probe(["validate"], tmp_path, NO_COLOR="1")
    assert code == 1 and "typer" in loaded and out == ""
    assert "ironship.yml:5:12: workers.hello.entry: 'nope.py' does not exist" in err
    assert "error: ironship.yml: 1 problem" in err


def test_a_missing_file_and_a_wrong_env_are_the_typer_commands_errors(tmp_path: Path) -> None:
    code, _, _, err = probe(["validate", "-f", "nowhere.yml"], tmp_path, NO_COLOR="1")
    assert code == 1 and "nowhere.yml" in err and "Traceback" not in err
    write_project(tmp_path)
    code, _, _, err = probe(["validate", "--env", "prod"], tmp_path, NO_COLOR="1")
    assert code == 1 and "prod" in err and "staging" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--debug"],
        ["extra"],
        ["-f"],
        ["--file"],
        ["--file="],
        ["-f", "--env"],
        ["--json"],
        ["--", "ironship.yml"],
    ],
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse(args) is None


def test_parse_reads_the_options_and_their_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IRONSHIP_SECRETS_FILE", "s.yml")
    monkeypatch.setenv("IRONSHIP_ENV", "")  # empty: not set, as click reads it
    monkeypatch.delenv("IRONSHIP_FILE", raising=False)
    assert parse(["-f", "a.yml", "--env", "x"]) == {
        "file": "a.yml",
        "env": "x",
        "secrets_file": "s.yml",
    }
    assert parse([]) == {"file": None, "env": None, "secrets_file": "s.yml"}
    assert parse(["--file", "a.yml", "--file", "b.yml"]) == {
        "file": "b.yml",
        "env": None,
        "secrets_file": "s.yml",
    }


def test_help_still_comes_from_typer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    res = run_cli(["validate", "--help"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 0 and "--secrets-file" in res.out and "--env" in res.out
