"""Python dependencies vendored into ``__pips__/``: installed by pip for the target from
wheels the tests build, cached by key, deterministic, and explained when pip fails."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from deploy.wheelhouse import CountingRunner, isolate_pip, sdist, sha256_of, wheel

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.contents import select_package
from ironship.packaging.deps.cache import DepsCache
from ironship.packaging.deps.tree import _record_hash
from ironship.packaging.fileset import FileSet, select_fileset


@pytest.fixture(autouse=True)
def _pip(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_pip(monkeypatch)


@pytest.fixture
def links(tmp_path: Path) -> Path:
    """A find-links folder: a pure wheel needing another, and one with a manylinux tag."""
    folder = tmp_path / "links"
    wheel(folder, "tinypure", "1.0.0", requires=["tinyextra"])
    wheel(folder, "tinypure", "1.1.0", requires=["tinyextra"])
    wheel(folder, "tinyextra", "2.0.0")
    wheel(folder, "tinyplat", "0.1.0", tag="py3-none-manylinux2014_x86_64")
    return folder


def worker(
    tmp_path: Path, links: Path, requirements: str = "tinypure==1.0.0\n", **kw: Any
) -> Worker:
    root = tmp_path / "project" / "w"
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text("import tinypure\n")
    (root / "requirements.txt").write_text(requirements)
    settings: dict[str, Any] = {
        "requirements": "requirements.txt",
        "python": "3.11",
        "pip_args": ("--no-index", "--find-links", str(links)),
    }
    settings.update(kw)
    return Worker(name="w", root=root, entry="main.py", runtime="python", **settings)


def package(w: Worker, folder: Path, runner: CountingRunner | None = None) -> FileSet:
    cache = DepsCache(folder, runner or CountingRunner())
    return select_package(w, w.root.parent, deps=cache)


def paths(fs: FileSet) -> list[str]:
    return [f.path for f in fs.files]


def test_requirements_are_installed_into_pips_with_a_runner(tmp_path: Path, links: Path) -> None:
    """A pure wheel, its dependency and a manylinux-tagged wheel land under __pips__/, beside
    the worker's own files and a generated __runner__.sh, with no compiled files."""
    w = worker(tmp_path, links, "tinypure==1.0.0\ntinyplat\n")
    fs = package(w, tmp_path / "cache")
    listed = paths(fs)
    for expected in ("tinypure/__init__.py", "tinyextra/__init__.py", "tinyplat/__init__.py"):
        assert f"__pips__/{expected}" in listed
    assert "__pips__/tinypure-1.0.0.dist-info/RECORD" in listed
    assert {"main.py", "requirements.txt", "__runner__.sh"} <= set(listed)
    assert not [p for p in listed if p.endswith(".pyc") or "__pycache__" in p]
    assert fs.runner == "__runner__.sh"
    (tree,) = fs.deps
    assert (tree.kind, tree.source, tree.source_path) == (
        "pip",
        "requirements.txt",
        "requirements.txt",
    )
    assert tree.versions() == {
        "tinyextra": ("2.0.0",),
        "tinyplat": ("0.1.0",),
        "tinypure": ("1.0.0",),
    }
    runner = next(f for f in fs.files if f.path == "__runner__.sh")
    assert runner.executable


def test_two_cache_folders_give_byte_identical_zips(tmp_path: Path, links: Path) -> None:
    """The same requirements installed into two cache folders zip to the same bytes."""
    w = worker(tmp_path, links, "tinypure==1.0.0\ntinyplat\n")
    first = package(w, tmp_path / "cache-a")
    second = package(w, tmp_path / "cache-b")
    write_zip(first, tmp_path / "a.zip")
    write_zip(second, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert [f.source for f in first.files if f.path.startswith("__pips__")] != [
        f.source for f in second.files if f.path.startswith("__pips__")
    ]


def test_a_cached_tree_starts_no_process(tmp_path: Path, links: Path) -> None:
    """Once a tree is cached, a new cache object over the same folder runs no pip at all."""
    w = worker(tmp_path, links)
    first_runner, second_runner = CountingRunner(), CountingRunner()
    first = package(w, tmp_path / "cache", first_runner)
    second = package(w, tmp_path / "cache", second_runner)
    assert len(first_runner.calls) == 1 and "pip" in first_runner.calls[0]
    assert second_runner.calls == []
    assert second == first


def test_changed_requirements_build_a_new_tree(tmp_path: Path, links: Path) -> None:
    """Another requirements text is another key: pip runs again and the new version ships."""
    w = worker(tmp_path, links)
    runner = CountingRunner()
    before = package(w, tmp_path / "cache", runner)
    (w.root / "requirements.txt").write_text("tinypure==1.1.0\n")
    after = package(w, tmp_path / "cache", runner)
    assert len(runner.calls) == 2
    assert before.deps[0].key != after.deps[0].key
    assert after.deps[0].versions()["tinypure"] == ("1.1.0",)


def test_a_nested_requirements_file_is_part_of_the_key(tmp_path: Path, links: Path) -> None:
    """A file included with -r feeds the key: changing only it rebuilds."""
    w = worker(tmp_path, links, "-r pins.txt\n")
    (w.root / "pins.txt").write_text("tinypure==1.0.0\n")
    first = package(w, tmp_path / "cache")
    (w.root / "pins.txt").write_text("tinypure==1.1.0\n")
    second = package(w, tmp_path / "cache")
    assert (
        second.deps[0].versions()["tinypure"] == ("1.1.0",) != first.deps[0].versions()["tinypure"]
    )


def test_workers_sharing_a_requirements_file_share_one_tree(tmp_path: Path, links: Path) -> None:
    """Two workers naming one file outside their roots get the same key, built once."""
    shared = tmp_path / "project" / "requirements.txt"
    w = worker(tmp_path, links)
    shared.write_text("tinypure==1.0.0\n")
    one = replace(w, requirements="../requirements.txt")
    other_root = tmp_path / "project" / "v"
    other_root.mkdir()
    (other_root / "main.py").write_text("\n")
    two = replace(one, name="v", root=other_root)
    runner = CountingRunner()
    cache = DepsCache(tmp_path / "cache", runner)
    a = select_package(one, tmp_path / "project", deps=cache)
    b = select_package(two, tmp_path / "project", deps=cache)
    assert len(runner.calls) == 1
    assert a.deps[0].key == b.deps[0].key
    assert a.deps[0].source == "../requirements.txt" and a.deps[0].source_path is None


def test_inline_requirements_install_too(tmp_path: Path, links: Path) -> None:
    """requirements: given as a list in the manifest installs like a file."""
    w = replace(worker(tmp_path, links), requirements=("tinyplat==0.1.0",))
    fs = package(w, tmp_path / "cache")
    assert fs.deps[0].source == "requirements"
    assert fs.deps[0].versions() == {"tinyplat": ("0.1.0",)}


def test_console_scripts_point_at_python3_and_record_stays_true(
    tmp_path: Path, links: Path
) -> None:
    """pip's #! line naming this machine's interpreter becomes python3, and RECORD's line
    for the script carries the shipped file's hash and size."""
    wheel(links, "tinycli", "0.3.0", scripts={"tinycli": "tinycli:main"})
    fs = package(worker(tmp_path, links, "tinycli\n"), tmp_path / "cache")
    by_path = {f.path: f for f in fs.files}
    script = by_path["__pips__/bin/tinycli"].source.read_bytes()
    assert script.startswith(b"#!/usr/bin/env python3\n")
    record = by_path["__pips__/tinycli-0.3.0.dist-info/RECORD"].source.read_text()
    row = next(r for r in csv.reader(io.StringIO(record)) if r[0].endswith("bin/tinycli"))
    assert row[1:] == [_record_hash(script), str(len(script))]
    assert "__pips__/bin/tinycli" in fs.deps[0].packages[0].paths


def test_hash_pinned_requirements_are_checked(tmp_path: Path, links: Path) -> None:
    """A --require-hashes file installs when its hashes match and fails, naming the file,
    when one does not."""
    pure = sha256_of(links / "tinypure-1.0.0-py3-none-any.whl")
    extra = sha256_of(links / "tinyextra-2.0.0-py3-none-any.whl")
    good = f"tinypure==1.0.0 --hash=sha256:{pure}\ntinyextra==2.0.0 --hash=sha256:{extra}\n"
    fs = package(worker(tmp_path, links, good), tmp_path / "cache")
    assert set(fs.deps[0].versions()) == {"tinypure", "tinyextra"}
    bad = good.replace(extra, "0" * 64)
    with pytest.raises(IronshipError) as caught:
        package(worker(tmp_path, links, bad), tmp_path / "cache")
    assert "requirements.txt" in caught.value.message
    assert "does not match its --hash" in caught.value.message


def test_unpinned_requirement_in_a_hashed_file_is_explained(tmp_path: Path, links: Path) -> None:
    """A hash-checked file with a requirement lacking its hash says what to pin."""
    pure = sha256_of(links / "tinypure-1.0.0-py3-none-any.whl")
    with pytest.raises(IronshipError) as caught:
        package(worker(tmp_path, links, f"tinypure==1.0.0 --hash=sha256:{pure}\n"), tmp_path / "c")
    assert "hash-checked" in caught.value.message
    assert "pip-compile --generate-hashes" in (caught.value.hint or "")


def test_an_sdist_only_dependency_names_itself_and_the_flag(tmp_path: Path, links: Path) -> None:
    """Without build_from_source, a requirement published only as an sdist is an error naming
    it and the manifest flag that builds it; nothing is cached."""
    sdist(links, "tinysrc", "0.5.0")
    with pytest.raises(IronshipError) as caught:
        package(worker(tmp_path, links, "tinysrc\n"), tmp_path / "cache")
    assert "'tinysrc'" in caught.value.message and "Python 3.11" in caught.value.message
    assert "build_from_source: true" in (caught.value.hint or "")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("pip-")]


def test_build_from_source_builds_an_sdist(tmp_path: Path, links: Path) -> None:
    """build_from_source: true lets pip build the sdist on this machine."""
    sdist(links, "tinysrc", "0.5.0")
    fs = package(worker(tmp_path, links, "tinysrc\n", build_from_source=True), tmp_path / "c")
    assert "__pips__/tinysrc.py" in paths(fs)
    assert fs.deps[0].versions() == {"tinysrc": ("0.5.0",)}


def test_a_worker_without_dependencies_packages_as_before(tmp_path: Path, links: Path) -> None:
    """No requirements: the same FileSet as select_fileset, and no cache folder is made."""
    w = replace(worker(tmp_path, links), requirements=None)
    fs = package(w, tmp_path / "cache")
    assert fs == select_fileset(w)
    assert not (tmp_path / "cache").exists()


def test_own_pips_folder_is_replaced_and_runner_name_is_reserved(
    tmp_path: Path, links: Path
) -> None:
    """A __pips__/ in the worker's folder never ships; its own __runner__.sh is an error."""
    w = worker(tmp_path, links)
    (w.root / "__pips__").mkdir()
    (w.root / "__pips__" / "stale.py").write_text("old\n")
    assert "__pips__/stale.py" not in paths(package(w, tmp_path / "cache"))
    (w.root / "__runner__.sh").write_text("echo mine\n")
    with pytest.raises(IronshipError) as caught:
        package(w, tmp_path / "cache")
    assert "__runner__.sh" in caught.value.message


def test_zip_of_the_package_holds_the_vendored_files(tmp_path: Path, links: Path) -> None:
    """The zip written from the package holds __pips__/, the runner as 0755, and main.py."""
    fs = package(worker(tmp_path, links), tmp_path / "cache")
    write_zip(fs, tmp_path / "w.zip")
    with zipfile.ZipFile(tmp_path / "w.zip") as archive:
        names = archive.namelist()
        mode = archive.getinfo("__runner__.sh").external_attr >> 16
    assert names == sorted(names) and "__pips__/tinypure/__init__.py" in names
    assert mode & 0o777 == 0o755
