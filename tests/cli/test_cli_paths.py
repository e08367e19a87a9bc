"""Path arguments naming a file where a folder goes: an error with a hint, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_cli, write_tree

MANIFEST = "version: 1\nworkers:\n  one:\n    root: w\n    entry: main.py\n"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A manifest with one worker, and a plain file named `afile` beside it."""
    write_tree(tmp_path, {"ironship.yml": MANIFEST, "w/main.py": "print(1)\n", "afile": "x\n"})
    return tmp_path


def test_package_out_names_a_file(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`package --out FILE` and `--out FILE/sub` say the flag, the path and the fix; exit 1."""
    res = run_cli(["package", "--out", "afile"], capsys, monkeypatch, cwd=project_dir)
    assert res.code == 1, res.err
    assert "error: --out afile: is a file, not a folder" in res.err
    assert "hint: give --out a folder path" in res.err
    sub = run_cli(["package", "--out", "afile/sub"], capsys, monkeypatch, cwd=project_dir)
    assert sub.code == 1, sub.err
    assert "error: --out afile/sub: afile is a file, not a folder" in sub.err
    assert "hint:" in sub.err
    for each in (res, sub):
        assert "internal error" not in each.err and "Traceback" not in each.err
    assert (project_dir / "afile").read_text() == "x\n"


def test_package_writes_nothing_when_the_out_folder_is_bad(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip's place taken by a folder stops package before any zip or folder is written."""
    (project_dir / "dist" / "one.zip").mkdir(parents=True)
    res = run_cli(["package", "--out", "dist"], capsys, monkeypatch, cwd=project_dir)
    assert res.code == 1
    assert "dist/one.zip is a folder, where the zip of one goes" in res.err
    assert sorted(p.name for p in (project_dir / "dist").iterdir()) == ["one.zip"]


def test_data_names_a_file(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan`, `status` and `task` with `--data FILE` name the flag instead of crashing."""
    for args in (["plan"], ["status"], ["task", "0" * 24]):
        res = run_cli([*args, "--data", "afile"], capsys, monkeypatch, cwd=project_dir)
        assert res.code == 1, (args, res.err)
        assert "error: --data afile: is a file, not a folder" in res.err, (args, res.err)
        assert "hint:" in res.err
        assert "internal error" not in res.err
    assert not (project_dir / ".ironship").exists()  # nothing started, nothing written


def test_state_folder_taken_by_a_file(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named .ironship beside the manifest is reported with what to do about it."""
    (project_dir / ".ironship").write_text("mine\n")
    res = run_cli(["plan"], capsys, monkeypatch, cwd=project_dir)
    assert res.code == 1
    assert ".ironship is a file, but ironship keeps its local state in a folder" in res.err
    assert "hint: move" in res.err and "internal error" not in res.err
    assert (project_dir / ".ironship").read_text() == "mine\n"


def test_package_counts_in_words(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file is "1 file", not "1 files", in both `files` and `package`."""
    res = run_cli(["package", "--out", "dist"], capsys, monkeypatch, cwd=project_dir)
    assert res.code == 0, res.err
    assert "  1 file  " in res.out and "1 files" not in res.out
    listed = run_cli(["files", "one"], capsys, monkeypatch, cwd=project_dir)
    assert "1 file, " in listed.out and "1 files" not in listed.out
