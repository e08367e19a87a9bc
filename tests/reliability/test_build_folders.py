"""apply builds under .ironship/build/, and cleans what a killed run left there (never a live
run's folder)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Project, run_cli, write_tree

from ironship.packaging.buildroot import build_folder, build_root, remove_stale

MANIFEST = "version: 1\nworkers:\n  w:\n    root: q\n    entry: main.py\n"
# Holds the lock of a build folder, says so on stdout, then waits for stdin to close.
HOLDER = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A live run's build folder under tmp_path's .ironship/build, locked by a real process."""
    root = build_root(tmp_path)
    (root / "build-live").mkdir(parents=True)
    (root / "build-live" / "w.zip").write_bytes(b"in use")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root / "build-live.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    try:
        yield root / "build-live", proc
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


def _stale(root: Path) -> Path:
    """A folder a killed run left: its lock file is there, but nobody holds it."""
    folder = root / "build-12345-deadbeef"
    folder.mkdir(parents=True)
    (folder / "w.zip").write_bytes(b"left behind")
    (root / "build-12345-deadbeef.lock").write_text("")
    return folder


def test_apply_removes_a_dead_runs_folder_and_keeps_a_live_one(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    """apply removes a leftover build folder whose run is gone, not one a live process
    holds, and leaves nothing of its own behind, in .ironship/build or the system temp."""
    live, _ = holder
    stale = _stale(build_root(tmp_path))
    no_lock = build_root(tmp_path) / "build-99-cafe"
    no_lock.mkdir()
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "q/main.py": "print(1)\n"})
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    res = run_cli(["apply", "-y"], capsys, monkeypatch, env=project.env, cwd=tmp_path)
    assert res.code == 0, res.err
    assert not stale.exists() and not no_lock.exists()
    assert (live / "w.zip").read_bytes() == b"in use"
    left = sorted(p.name for p in build_root(tmp_path).iterdir())
    assert left == ["build-live", "build-live.lock"]
    assert not [p for p in system_tmp.iterdir() if p.name.startswith("ironship-")]


def test_a_build_folder_is_locked_while_in_use(tmp_path: Path) -> None:
    """While a run uses its build folder, a clean-up by another run leaves it alone."""
    with build_folder(tmp_path) as folder:
        assert folder.parent == build_root(tmp_path)
        (folder / "w.zip").write_bytes(b"x")
        assert remove_stale(build_root(tmp_path)) == []
        assert folder.is_dir()
    assert list(build_root(tmp_path).iterdir()) == []


# A real run that takes a build folder, says where, and waits inside it to be killed.
INSIDE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from ironship.packaging.buildroot import build_folder\n"
    "with build_folder(Path(sys.argv[1])) as folder:\n"
    "    (folder / 'w.zip').write_bytes(b'half')\n"
    "    print(folder, flush=True)\n"
    "    sys.stdin.read()\n"
)


def test_a_run_killed_inside_its_build_folder_is_cleaned_by_the_next(tmp_path: Path) -> None:
    """A process SIGKILLed while it builds leaves its folder; the next build removes it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", INSIDE, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    left = Path(proc.stdout.readline().strip())
    assert left.parent == build_root(tmp_path)
    with build_folder(tmp_path):  # the owner is alive: its folder stays
        assert (left / "w.zip").exists()
    proc.kill()
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stdin.close()
    assert left.is_dir()  # kill -9 ran no clean-up
    with build_folder(tmp_path) as mine:
        assert not left.exists()
        assert [p.name for p in build_root(tmp_path).iterdir() if p.is_dir()] == [mine.name]
