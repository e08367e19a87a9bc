"""Node dependencies vendored into ``node_modules/`` by ``npm ci`` from a lock, with local
npm tarballs the tests pack themselves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from deploy.wheelhouse import CountingRunner, needs_npm, npm_env, npm_lock, npm_tarball

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.archive import write_zip
from ironship.packaging.contents import select_package
from ironship.packaging.deps.cache import DepsCache
from ironship.packaging.fileset import FileSet, select_fileset

pytestmark = needs_npm


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """npm's HOME and cache for this test (no user .npmrc is read)."""
    folder = tmp_path / "home"
    folder.mkdir()
    for key, value in npm_env(folder).items():
        monkeypatch.setenv(key, value)
    return folder


def node_worker(tmp_path: Path, home: Path, version: str = "1.2.3") -> Worker:
    env = npm_env(home)
    tarballs = tmp_path / "tarballs"
    dep = npm_tarball(tarballs, "tinydep", version, "module.exports = () => 'hi';\n", env)
    root = tmp_path / "project" / "n"
    npm_lock(root, {"tinydep": dep}, env)
    (root / "main.js").write_text("console.log(require('tinydep')());\n")
    return Worker(name="n", root=root, entry="main.js", runtime="node")


def package(w: Worker, folder: Path, runner: CountingRunner | None = None) -> FileSet:
    return select_package(w, w.root.parent, deps=DepsCache(folder, runner or CountingRunner()))


def test_lock_is_installed_into_node_modules_without_a_runner(tmp_path: Path, home: Path) -> None:
    """npm ci puts the locked package under node_modules/; node finds it alone, so the worker
    keeps its own entry; npm's hidden lockfile is not shipped."""
    fs = package(node_worker(tmp_path, home), tmp_path / "cache")
    listed = [f.path for f in fs.files]
    assert "node_modules/tinydep/index.js" in listed
    assert "node_modules/.package-lock.json" not in listed
    assert fs.runner is None
    (tree,) = fs.deps
    assert (tree.kind, tree.source) == ("npm", "package-lock.json")
    assert tree.versions() == {"tinydep": ("1.2.3",)}


def test_own_node_modules_is_replaced_by_the_lock(tmp_path: Path, home: Path) -> None:
    """A node_modules/ left in the worker's folder (dev dependencies) never ships."""
    w = node_worker(tmp_path, home)
    (w.root / "node_modules" / "devtool").mkdir(parents=True)
    (w.root / "node_modules" / "devtool" / "index.js").write_text("x\n")
    listed = [f.path for f in package(w, tmp_path / "cache").files]
    assert "node_modules/devtool/index.js" not in listed


def test_cached_lock_starts_no_npm_and_zips_identically(tmp_path: Path, home: Path) -> None:
    """npm --version and npm ci run once; a new cache object over the folder runs nothing, and
    a second cache folder gives a byte-identical zip."""
    w = node_worker(tmp_path, home)
    first_runner, second_runner = CountingRunner(), CountingRunner()
    first = package(w, tmp_path / "cache", first_runner)
    again = package(w, tmp_path / "cache", second_runner)
    assert [c[1:2] for c in first_runner.calls] == [["--version"], ["ci"]]
    assert second_runner.calls == [] and again == first
    other = package(w, tmp_path / "cache-2")
    write_zip(first, tmp_path / "a.zip")
    write_zip(other, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_missing_lock_is_an_error_with_the_fix(tmp_path: Path, home: Path) -> None:
    """package.json with dependencies but no lock names the file and says to run npm install."""
    w = node_worker(tmp_path, home)
    (w.root / "package-lock.json").unlink()
    with pytest.raises(IronshipError) as caught:
        package(w, tmp_path / "cache")
    assert "package-lock.json" in caught.value.message and "npm install" in (
        caught.value.hint or ""
    )


def test_package_json_without_dependencies_vendors_nothing(tmp_path: Path) -> None:
    """A package.json declaring no dependencies leaves the package as it was."""
    root = tmp_path / "n"
    root.mkdir()
    (root / "package.json").write_text(json.dumps({"name": "n", "devDependencies": {"x": "1"}}))
    (root / "main.js").write_text("\n")
    w = Worker(name="n", root=root, entry="main.js", runtime="node")
    assert package(w, tmp_path / "cache") == select_fileset(w)


def test_a_python_worker_ignores_package_json(tmp_path: Path, home: Path) -> None:
    """Only node workers vendor npm packages: a python worker's package.json is just a file."""
    w = replace(node_worker(tmp_path, home), runtime="python", entry="main.js")
    assert package(w, tmp_path / "cache") == select_fileset(w)


def test_npm_failure_names_the_worker_and_lock(tmp_path: Path, home: Path) -> None:
    """A lock whose tarball is gone fails with npm's own words and the worker's name."""
    w = node_worker(tmp_path, home)
    for tarball in (tmp_path / "tarballs").glob("*.tgz"):
        tarball.unlink()
    (home / ".npm-cache").rename(home / "old-cache")
    with pytest.raises(IronshipError) as caught:
        package(w, tmp_path / "cache")
    assert "worker 'n': npm ci failed" in caught.value.message
