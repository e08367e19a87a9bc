"""The generated ``__runner__.sh``, run by a real ``sh``: into the task directory, vendored
Python packages on the path, then the worker's entry with every argument."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ironship.manifest.models import Worker
from ironship.packaging.deps.runner import runner_script

PROBE = (
    "import json, os, sys, tinymod\n"
    "print(json.dumps({'cwd': os.getcwd(), 'args': sys.argv[1:], 'mod': tinymod.NAME}))\n"
)


def task_dir(tmp_path: Path, worker: Worker) -> Path:
    """A task directory as the engine unpacks it: the runner, the entry and __pips__/."""
    folder = tmp_path / "task"
    (folder / "__pips__" / "tinymod").mkdir(parents=True)
    (folder / "__pips__" / "tinymod" / "__init__.py").write_text("NAME = 'vendored'\n")
    (folder / "__runner__.sh").write_text(runner_script(worker, "3.11"))
    return folder


def run(folder: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(folder / "__runner__.sh"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )


def test_runner_enters_the_task_dir_and_passes_every_argument(tmp_path: Path) -> None:
    """Started elsewhere, the runner cds to -d, puts __pips__ on PYTHONPATH and runs the
    Python entry with the arguments unchanged (spaces and quotes included)."""
    worker = Worker(name="w", root=tmp_path, entry="src/main file.py", runtime="python")
    folder = task_dir(tmp_path, worker)
    (folder / "src").mkdir()
    (folder / "src" / "main file.py").write_text(PROBE)
    args = ["-payload", str(folder / "__payload__"), "-id", "t1", "-d", str(folder), "a 'b'"]
    done = run(folder, tmp_path, *args)
    seen = json.loads(done.stdout)
    assert seen == {"cwd": str(folder), "args": args, "mod": "vendored"}


def test_runner_without_d_uses_its_own_folder(tmp_path: Path) -> None:
    """With no -d argument the runner works from the folder it lives in."""
    worker = Worker(name="w", root=tmp_path, entry="main.py", runtime="python")
    folder = task_dir(tmp_path, worker)
    (folder / "main.py").write_text(PROBE)
    assert json.loads(run(folder, tmp_path, "-id", "x").stdout)["cwd"] == str(folder)


def test_runner_runs_sh_and_binary_entries(tmp_path: Path) -> None:
    """An sh entry runs under sh, and a binary entry is made executable and executed, each
    seeing the vendored packages on PYTHONPATH."""
    script = "#!/bin/sh\npython3 -c 'import tinymod; print(tinymod.NAME)'\necho \"$@\"\n"
    for runtime in ("sh", "binary"):
        worker = Worker(name="w", root=tmp_path, entry="run.sh", runtime=runtime)
        folder = task_dir(tmp_path / runtime, worker)
        (folder / "run.sh").write_text(script)
        done = run(folder, tmp_path, "-d", str(folder))
        assert done.stdout.split("\n")[:2] == ["vendored", f"-d {folder}"]
