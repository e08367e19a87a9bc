"""Manifest values no file system can hold, and oversized manifests: located errors, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_cli, write_tree


def _validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    assert "internal error" not in res.err and "Traceback" not in res.err
    return res.code, res.err


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        ('root: "q\\0x"\n    entry: main.py', "4:11: workers.w.root: 'q\\x00x' holds a NUL byte"),
        ('root: q\n    entry: "ma\\0in.py"', "5:12: workers.w.entry: 'ma\\x00in.py' holds a NUL"),
        (f"root: q\n    entry: {'e' * 256}.py", "5:12: workers.w.entry: the path component"),
        (f"root: q/{'r' * 300}\n    entry: main.py", "4:11: workers.w.root: the path component"),
    ],
)
def test_paths_no_file_system_allows_are_located_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    worker: str,
    expected: str,
) -> None:
    """A NUL byte or a component over 255 bytes in root/entry is a located error, not a crash."""
    write_tree(
        tmp_path,
        {"ironship.yml": f"version: 1\nworkers:\n  w:\n    {worker}\n", "q/main.py": "print(1)\n"},
    )
    code, err = _validate(tmp_path, capsys, monkeypatch)
    assert code == 1
    assert f"ironship.yml:{expected}" in err, err


def test_a_manifest_over_4_mb_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest of 5 MB of comments is refused with its size limit named."""
    head = "version: 1\nworkers:\n  w:\n    root: q\n    entry: main.py\n"
    write_tree(tmp_path, {"ironship.yml": head + "# padding\n" * 500_000, "q/main.py": "1\n"})
    code, err = _validate(tmp_path, capsys, monkeypatch)
    assert code == 1
    assert "ironship.yml is larger than 4 MB" in err, err


def test_a_manifest_under_the_limit_still_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid manifest with a 255-byte file name and 1 MB of comments still validates."""
    name = "e" * 252 + ".py"
    head = f"version: 1\nworkers:\n  w:\n    root: q\n    entry: {name}\n"
    write_tree(tmp_path, {"ironship.yml": head + "# padding\n" * 100_000, f"q/{name}": "1\n"})
    code, err = _validate(tmp_path, capsys, monkeypatch)
    assert code == 0, err
