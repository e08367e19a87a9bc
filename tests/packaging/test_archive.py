"""Tests for file selection and reproducible zips (the digests are tested in tests/deploy)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import unicodedata
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.archive import files_of_zip, write_zip, zip_date_time, zip_md5
from ironship.packaging.fileset import FileSet, select_files, select_fileset

TREE: dict[str, tuple[bytes, bool]] = {
    "main.py": (b"import lib.util\nprint('hi')\n" * 20, True),
    "lib/__init__.py": (b"", False),
    "lib/util.py": (b"def f():\n    return 1\n" * 50, False),
    "bin/run.sh": (b'#!/bin/sh\nexec python3 main.py "$@"\n', True),
    "data/logo.png": (bytes(range(256)) * 8, False),
    "data/table.csv": (b"a,b\n1,2\n" * 100, False),
}


def write_tree(root: Path, tree: Mapping[str, tuple[bytes, bool]], umask: int = 0o022) -> None:
    """Create files the way a checkout does: 0o666/0o777 minus the umask."""
    for rel, (content, executable) in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod((0o777 if executable else 0o666) & ~umask)


def worker(root: Path, **changes: Any) -> Worker:
    base = Worker(name="w", root=root.resolve(), entry="main.py", runtime="python")
    return replace(base, **changes)


def paths(root: Path, **changes: Any) -> list[str]:
    return [f.path for f in select_files(worker(root, **changes))]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "w"
    write_tree(root, TREE)
    return root


# --- selection ---------------------------------------------------------------------------


def test_selects_everything_sorted_without_default_excludes(tree: Path) -> None:
    """With no patterns every file ships, sorted, except VCS dirs, caches and ironship state."""
    junk_files = (".git/HEAD", ".hg/x", ".svn/x", ".ironship/state.json", "lib/.ironship/s")
    for junk in (*junk_files, "vendor/sub/.git"):  # the last: a submodule's gitfile
        write_tree(tree, {junk: (b"x", False)})
    write_tree(tree, {"lib/__pycache__/util.cpython-311.pyc": (b"c", False)})
    write_tree(tree, {"old.pyc": (b"c", False), ".DS_Store": (b"d", False)})
    write_tree(tree, {"sub/.DS_Store": (b"d", False), ".env.example": (b"A=1", False)})
    write_tree(tree, {"vendor/sub/.gitignore": (b"*.o", False)})
    assert paths(tree) == sorted([*TREE, ".env.example", "vendor/sub/.gitignore"])


def test_include_restricts_and_negation_removes(tree: Path) -> None:
    """Include patterns select with gitignore rules; a later ``!`` pattern removes files."""
    write_tree(tree, {"lib/test_util.py": (b"t", False)})
    got = paths(tree, include=("*.py", "bin/", "!test_*.py"))
    assert got == ["bin/run.sh", "lib/__init__.py", "lib/util.py", "main.py"]


def test_exclude_with_reinclude(tree: Path) -> None:
    """Exclude patterns drop files; a ``!`` exclude pattern keeps one back."""
    write_tree(tree, {"a.log": (b"1", False), "keep.log": (b"2", False)})
    got = paths(tree, exclude=("*.log", "!keep.log", "data/"))
    assert "a.log" not in got and "keep.log" in got
    assert not any(p.startswith("data/") for p in got)


def test_reinclude_under_excluded_directory_follows_pathspec(tree: Path) -> None:
    """A ``!`` line after a directory pattern re-includes a file below it (pathspec semantics)."""
    got = paths(tree, exclude=("data/", "!data/table.csv"))
    assert "data/table.csv" in got and "data/logo.png" not in got


def test_ironshipignore_is_honoured_and_not_shipped(tree: Path) -> None:
    """Root ``.ironshipignore`` lines apply after exclude patterns and the file itself stays out."""
    (tree / ".ironshipignore").write_text("# comment\n\ndata/*\n!data/table.csv\n")
    write_tree(tree, {"lib/.ironshipignore": (b"nested one ships", False)})
    got = paths(tree)
    assert ".ironshipignore" not in got and "lib/.ironshipignore" in got
    assert "data/table.csv" in got and "data/logo.png" not in got


def test_ironshipignore_reports_its_line(tree: Path) -> None:
    """An entry excluded by ``.ironshipignore`` names the file and line in the error."""
    (tree / ".ironshipignore").write_text("# keep out\nmain.py\n")
    with pytest.raises(IronshipError) as info:
        select_files(worker(tree))
    assert ".ironshipignore line 2 'main.py'" in info.value.message
    assert info.value.hint is not None and "!main.py" in info.value.hint


def test_pyc_ships_only_when_asked(tree: Path) -> None:
    """Bytecode is excluded unless an include pattern names it or an exclude line negates it."""
    write_tree(tree, {"lib/__pycache__/util.cpython-311.pyc": (b"c", False)})
    pyc = "lib/__pycache__/util.cpython-311.pyc"
    assert pyc not in paths(tree, include=("*",))
    assert pyc in paths(tree, include=("*.py", "**/__pycache__/**"))
    assert pyc in paths(tree, exclude=("!*.pyc",))


def test_vcs_and_state_dirs_cannot_be_reincluded(tree: Path) -> None:
    """``.git/`` and ``.ironship/`` stay out even when include or ``!`` patterns name them."""
    write_tree(tree, {".git/config": (b"[core]", False), ".ironship/s": (b"{}", False)})
    got = paths(tree, include=("*", ".git/**", ".ironship/**"), exclude=("!.git/", "!.ironship/"))
    assert not any(p.startswith((".git/", ".ironship/")) for p in got)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exclude": ("*.py",)}, "exclude pattern '*.py'"),
        ({"include": ("lib/",)}, "no include pattern matching it"),
        ({"include": ("*", "!main.py")}, "include pattern '!main.py'"),
    ],
)
def test_excluded_entry_is_an_error_naming_the_pattern(
    tree: Path, changes: dict[str, Any], expected: str
) -> None:
    """The entry must ship; excluding it is an error that names the deciding pattern."""
    with pytest.raises(IronshipError) as info:
        select_files(worker(tree, **changes))
    assert "entry 'main.py'" in info.value.message and expected in info.value.message


def test_missing_entry_and_root_are_errors(tree: Path) -> None:
    """A missing entry or root is an IronshipError with a hint, never a traceback."""
    with pytest.raises(IronshipError, match="does not exist"):
        select_files(worker(tree, entry="nope.py"))
    with pytest.raises(IronshipError, match="not a file"):
        select_files(worker(tree, entry="lib"))
    with pytest.raises(IronshipError, match="not a directory"):
        select_files(worker(tree / "absent"))


def test_exec_bit_is_owner_exec_only(tree: Path) -> None:
    """The exec bit comes from the owner-exec bit; read-only and group bits don't matter."""
    modes = {"a": 0o755, "b": 0o555, "c": 0o700, "d": 0o644, "e": 0o444, "f": 0o654}
    for name, mode in modes.items():
        (tree / name).write_text(name)
        (tree / name).chmod(mode)
    got = {f.path: f.executable for f in select_files(worker(tree)) if len(f.path) == 1}
    assert got == {"a": True, "b": True, "c": True, "d": False, "e": False, "f": False}


def test_entries_carry_hash_size_and_source(tree: Path) -> None:
    """Each FileEntry holds the content sha256, the size and where to read it."""
    entry = {f.path: f for f in select_files(worker(tree))}["lib/util.py"]
    content = TREE["lib/util.py"][0]
    assert entry.sha256 == hashlib.sha256(content).hexdigest()
    assert entry.size == len(content) and entry.source.read_bytes() == content


def test_symlinked_file_inside_root_ships_its_content(tree: Path) -> None:
    """A link to a file inside root is shipped as a regular file with the target's exec bit."""
    (tree / "run").symlink_to("bin/run.sh")
    entry = {f.path: f for f in select_files(worker(tree))}["run"]
    assert entry.executable and entry.sha256 == hashlib.sha256(TREE["bin/run.sh"][0]).hexdigest()


def test_symlink_outside_root_is_an_error_unless_excluded(tree: Path, tmp_path: Path) -> None:
    """A link leaving root is an error naming the path and the fix; excluding it is the fix."""
    (tmp_path / "secret.txt").write_text("s")
    (tree / "lib" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(IronshipError) as info:
        select_files(worker(tree))
    assert "'lib/leak.txt'" in info.value.message and "outside" in info.value.message
    assert info.value.hint is not None and "exclude" in info.value.hint
    assert "lib/leak.txt" not in paths(tree, exclude=("leak.txt",))


def test_symlinked_directory_outside_root_is_an_error_unless_excluded(
    tree: Path, tmp_path: Path
) -> None:
    """A directory link leaving root is refused unless its directory is excluded."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.py").write_text("x")
    (tree / "shared").symlink_to(tmp_path / "shared")
    with pytest.raises(IronshipError, match="'shared/' is a symlink"):
        select_files(worker(tree))
    assert "shared/x.py" not in paths(tree, exclude=("shared/",))


def test_symlinked_directory_inside_root_is_followed_without_loops(tree: Path) -> None:
    """Directory links inside root are followed; links back to an ancestor are skipped."""
    (tree / "util").symlink_to("lib", target_is_directory=True)
    (tree / "lib" / "again").symlink_to("..", target_is_directory=True)
    (tree / "lib" / "self").symlink_to(".", target_is_directory=True)
    got = paths(tree)
    assert "util/util.py" in got and "lib/util.py" in got
    assert not any("again" in p or "self" in p for p in got)


def test_broken_symlink_is_an_error_unless_excluded(tree: Path) -> None:
    """A dangling link that would ship is reported; an excluded one is ignored."""
    (tree / "gone.txt").symlink_to("missing.txt")
    with pytest.raises(IronshipError, match="broken symlink"):
        select_files(worker(tree))
    assert "gone.txt" not in paths(tree, exclude=("gone.txt",))


def test_names_are_nfc_normalised(tree: Path) -> None:
    """A name stored decomposed (as macOS may) ships under its composed (NFC) form."""
    decomposed = unicodedata.normalize("NFD", "café.txt")
    (tree / decomposed).write_text("c")
    assert "café.txt" in paths(tree)


def test_files_are_listed_whatever_the_creation_order(tmp_path: Path) -> None:
    """Creating the same files in opposite orders gives the same selection."""
    names = {f"{d}/{n}.txt": (n.encode(), False) for d in "zab" for n in "qcm"}
    names["main.py"] = (b"", False)
    write_tree(tmp_path / "one", dict(sorted(names.items())))
    write_tree(tmp_path / "two", dict(sorted(names.items(), reverse=True)))
    assert select_files(worker(tmp_path / "one")) == tuple(
        replace(f, source=tmp_path / "one" / f.path) for f in select_files(worker(tmp_path / "two"))
    )


# --- the file set --------------------------------------------------------------------------


def test_fileset_counts_and_matches_its_zip(tree: Path, tmp_path: Path) -> None:
    """A FileSet counts its files and bytes, and its zip holds exactly those files and bits."""
    fs = select_fileset(worker(tree))
    write_zip(fs, tmp_path / "w.zip")
    index = {f.path: (f.executable, f.sha256) for f in fs.files}
    assert files_of_zip(tmp_path / "w.zip") == index
    assert fs.file_count == len(TREE) and fs.total_size == sum(len(c) for c, _ in TREE.values())


def test_fileset_ignores_mtime_and_non_exec_mode_bits(tree: Path) -> None:
    """mtimes and mode bits other than owner-exec never change the selected entries."""
    before = select_fileset(worker(tree))
    for f in tree.rglob("*"):
        if f.is_file():
            os.utime(f, (1_000_000, 1_000_000))
            f.chmod(0o700 if os.access(f, os.X_OK) else 0o400)
    assert select_fileset(worker(tree)) == before


# --- zips ---------------------------------------------------------------------------------


def zip_of(root: Path, dest: Path, **changes: Any) -> tuple[bytes, str, FileSet]:
    fs = select_fileset(worker(root, **changes))
    md5 = write_zip(fs, dest, date_time=(1980, 1, 1, 0, 0, 0))
    return dest.read_bytes(), md5, fs


def test_zip_layout(tree: Path, tmp_path: Path) -> None:
    """Entries are sorted files only, unix 0644/0755, fixed date, no extras, fixed compression."""
    data, md5, _ = zip_of(tree, tmp_path / "w.zip")
    assert md5 == hashlib.md5(data).hexdigest() == zip_md5(tmp_path / "w.zip")
    with zipfile.ZipFile(tmp_path / "w.zip") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(TREE)
        for info in infos:
            content, executable = TREE[info.filename]
            assert archive.read(info) == content
            assert info.external_attr >> 16 == (0o100755 if executable else 0o100644)
            assert (info.create_system, info.date_time, info.extra) == (
                3,
                (1980, 1, 1, 0, 0, 0),
                b"",
            )
            stored = info.filename.endswith(".png")
            assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    util = next(i for i in infos if i.filename == "lib/util.py")
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    expected = deflate.compress(TREE["lib/util.py"][0]) + deflate.flush()
    assert util.compress_size == len(expected)


def test_zip_ignores_mtime_and_non_exec_mode_bits(tree: Path, tmp_path: Path) -> None:
    """Touching files and changing modes other than the exec bit keeps the bytes identical."""
    first, md5, fs = zip_of(tree, tmp_path / "a.zip")
    for f in tree.rglob("*"):
        if f.is_file():
            os.utime(f, (2_000_000_000, 2_000_000_000))
            f.chmod(0o500 if os.access(f, os.X_OK) else 0o600)
    second, md5_2, fs2 = zip_of(tree, tmp_path / "b.zip")
    assert (first, md5, fs.files) == (second, md5_2, fs2.files)


def test_source_date_epoch(tmp_path: Path, tree: Path) -> None:
    """SOURCE_DATE_EPOCH sets the UTC entry date, clamped to the ZIP range; bad values error."""
    assert zip_date_time({}) == (1980, 1, 1, 0, 0, 0)
    assert zip_date_time({"SOURCE_DATE_EPOCH": "1700000000"}) == (2023, 11, 14, 22, 13, 20)
    assert zip_date_time({"SOURCE_DATE_EPOCH": "0"}) == (1980, 1, 1, 0, 0, 0)
    assert zip_date_time({"SOURCE_DATE_EPOCH": "99999999999"}) == (2107, 12, 31, 23, 59, 58)
    with pytest.raises(IronshipError, match="SOURCE_DATE_EPOCH"):
        zip_date_time({"SOURCE_DATE_EPOCH": "yesterday"})
    fs = select_fileset(worker(tree))
    write_zip(fs, tmp_path / "d.zip", date_time=zip_date_time({"SOURCE_DATE_EPOCH": "1700000000"}))
    with zipfile.ZipFile(tmp_path / "d.zip") as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_write_zip_reads_source_date_epoch_from_environment(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an explicit date, write_zip uses SOURCE_DATE_EPOCH from the environment."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    write_zip(select_fileset(worker(tree)), tmp_path / "e.zip")
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        assert archive.infolist()[0].date_time == (2001, 9, 9, 1, 46, 40)


PACKAGE_SCRIPT = """
import json, os, sys
from pathlib import Path
from ironship.manifest.models import Worker
from ironship.deploy.settings import files_digest
from ironship.packaging.archive import write_zip
from ironship.packaging.fileset import select_fileset
spec = json.loads(sys.argv[1])
root = Path(spec["root"])
if "tree" in spec:
    os.umask(int(spec["umask"], 8))
    for rel, (text, executable) in spec["tree"].items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if executable:
            p.chmod(0o777 & ~int(spec["umask"], 8))
fs = select_fileset(Worker(name="w", root=root.resolve(), entry="main.py", runtime="python"))
print(json.dumps({"md5": write_zip(fs, Path(spec["dest"])), "digest": files_digest(fs.files)}))
"""


def run_packager(spec: dict[str, Any], env: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """Package in a fresh interpreter (so umask/TZ apply process-wide); return bytes and ids."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("TZ", "SOURCE_DATE_EPOCH")}
    done = subprocess.run(
        [sys.executable, "-c", PACKAGE_SCRIPT, json.dumps(spec)],
        env={**full_env, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(spec["dest"]).read_bytes(), json.loads(done.stdout)


def test_timezone_does_not_leak_into_the_zip(tree: Path, tmp_path: Path) -> None:
    """Packaging with TZ=UTC and TZ=Asia/Tokyo (and SOURCE_DATE_EPOCH) gives identical bytes."""
    results = [
        run_packager(
            {"root": str(tree), "dest": str(tmp_path / f"{i}.zip")},
            {"TZ": tz, "SOURCE_DATE_EPOCH": "1700000001"},
        )
        for i, tz in enumerate(("UTC", "Asia/Tokyo"))
    ]
    assert results[0] == results[1]
    with zipfile.ZipFile(tmp_path / "1.zip") as archive:
        assert archive.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)  # DOS time: 2 s steps


def test_umask_does_not_leak_into_the_zip(tmp_path: Path) -> None:
    """Trees checked out under umask 022 and 077 package to identical bytes and digests."""
    tree = {rel: (content.decode("latin-1"), ex) for rel, (content, ex) in TREE.items()}
    results = [
        run_packager(
            {
                "root": str(tmp_path / m),
                "dest": str(tmp_path / f"{m}.zip"),
                "umask": m,
                "tree": tree,
            },
            {"TZ": "UTC"},
        )
        for m in ("022", "077")
    ]
    assert oct((tmp_path / "077" / "main.py").stat().st_mode & 0o777) == "0o700"
    assert results[0] == results[1]


def test_file_changed_while_packaging_is_an_error(tree: Path, tmp_path: Path) -> None:
    """If a file no longer matches its hash, write_zip fails and leaves no zip or temp file."""
    fs = select_fileset(worker(tree))
    (tree / "lib/util.py").write_bytes(b"edited after selection")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "w.zip").write_bytes(b"previous")
    with pytest.raises(IronshipError, match="changed while packaging; run again"):
        write_zip(fs, tmp_path / "out" / "w.zip")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["w.zip"]
    assert (tmp_path / "out" / "w.zip").read_bytes() == b"previous"


def test_large_file_is_streamed_intact(tmp_path: Path) -> None:
    """A file spanning several read chunks round-trips through the zip unchanged."""
    root = tmp_path / "big"
    blob = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    write_tree(root, {"main.py": (b"", False), "blob.bin": (blob, False)})
    fs = select_fileset(worker(root))
    write_zip(fs, tmp_path / "big.zip")
    with zipfile.ZipFile(tmp_path / "big.zip") as archive:
        assert archive.read("blob.bin") == blob


def test_files_of_foreign_zip(tmp_path: Path) -> None:
    """Reading a zip not made by ironship skips directory entries and non-unix modes."""
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dir/", b"")
        archive.writestr("dir/a.sh", b"a")
        dos = zipfile.ZipInfo("b.txt")
        dos.create_system = 0
        dos.external_attr = 0o100755 << 16
        archive.writestr(dos, b"b")
        unix = zipfile.ZipInfo("c")
        unix.external_attr = 0o100755 << 16
        archive.writestr(unix, b"c")
    sha = {k: hashlib.sha256(k.encode()).hexdigest() for k in "abc"}
    assert files_of_zip(path) == {
        "dir/a.sh": (False, sha["a"]),
        "b.txt": (False, sha["b"]),
        "c": (True, sha["c"]),
    }
    (tmp_path / "bad.zip").write_bytes(b"b'PK\\x03\\x04'")
    with pytest.raises(IronshipError, match="not a readable zip"):
        files_of_zip(tmp_path / "bad.zip")


def test_each_worker_zips_its_own_files(tmp_path: Path) -> None:
    """Workers packaged one after another (as ``ironship package`` does) each get their files."""
    roots = []
    for name in ("b", "a", "c"):
        roots.append(tmp_path / name)
        write_tree(tmp_path / name, {"main.py": (name.encode(), False)})
    for root in roots:
        fs = select_fileset(worker(root, name=f"{root.name}/worker"))
        dest = tmp_path / "out" / f"{root.name}.zip"
        md5 = write_zip(fs, dest)
        assert zip_md5(dest) == md5
        assert files_of_zip(dest) == {
            "main.py": (False, hashlib.sha256(root.name.encode()).hexdigest())
        }
    broken = worker(roots[1], entry="missing.py")
    with pytest.raises(IronshipError, match=r"missing\.py"):
        select_fileset(broken)
