"""What a command loads and writes, checked in fresh interpreters: ``--version`` answers
before typer is imported; a plan with nothing to upload loads neither the engine's HTTP
server nor the HTTP client, and writes nothing (docs/architecture.md, "Plan at monorepo
scale"); every command of the table still loads on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import hello_project

from ironship import __version__
from ironship.cli.app import _COMMANDS, main

PROBE = r"""
import json, sys
from ironship.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("typer", "uvicorn", "starlette", "requests", "urllib3", "ironship.engine.server")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(args: list[str], cwd: Path) -> tuple[int, list[str], str]:
    """Run ``ironship ARGS`` in a fresh interpreter: exit code, heavy modules loaded, stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON")}
    env.update(NO_COLOR="1", HOME=str(cwd))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    return result["code"], result["loaded"], done.stdout + done.stderr


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder`` with its inode, size and mtime (the engine's own SQLite
    journal files, made and removed by every reader, left out)."""
    out = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.endswith(("-wal", "-shm")):
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def test_version_is_answered_before_typer_loads(tmp_path: Path) -> None:
    """``ironship --version`` prints the version and imports no CLI framework."""
    code, loaded, out = probe(["--version"], tmp_path)
    assert code == 0 and loaded == []
    assert f"ironship {__version__}" in out


def test_a_plan_with_nothing_to_upload_loads_no_server_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """After an apply, a plan answers from the stopped engine's state: no uvicorn, no
    Starlette, no requests, and not one file under .ironship/ created or rewritten."""
    hello_project(tmp_path)
    (tmp_path / "hello" / "lib.py").write_text("X = 1\n")
    code, loaded, out = probe(["apply", "-y", "--target", "local"], tmp_path)
    assert code == 0, out
    assert "ironship.engine.server" in loaded  # the upload needed the engine
    code, loaded, out = probe(["plan", "--target", "local"], tmp_path)
    assert code == 0 and "No changes" in out, out
    before = snapshot(tmp_path / ".ironship")
    code, loaded, out = probe(["plan", "--target", "local", "--detailed-exitcode"], tmp_path)
    assert code == 0 and "No changes" in out, out
    assert loaded == ["typer"]
    assert snapshot(tmp_path / ".ironship") == before
    assert not (tmp_path / ".ironship" / "engine" / "server.json").exists()


@pytest.mark.parametrize(("name", "module", "function"), _COMMANDS)
def test_every_command_loads_on_demand(
    name: str, module: str, function: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each row of the table names a function that loads and answers ``--help``."""
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert "Usage:" in capsys.readouterr().out
