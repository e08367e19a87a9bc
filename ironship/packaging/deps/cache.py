"""Vendored trees, built once per key in a scratch folder and cached under
``.ironship/cache/deps/`` (README "Workers with dependencies").

Layout: ``KEY/tree/`` holds the files as the package ships them (``__pips__/…``,
``node_modules/…``) and ``KEY/index.json`` their hashes and the distributions they belong to;
``tools.json`` remembers installer versions; ``runners/`` the generated ``__runner__.sh``
files. A tree is built in ``.build-…`` and renamed to ``KEY`` only when complete, so an
interrupted build leaves nothing that looks finished, and two processes building the same key
keep the first one's. A cached key is read, never rebuilt: no installer process starts.
Delete the folder to rebuild everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ironship import paths
from ironship.errors import IronshipError
from ironship.packaging.deps import bundler, composer, npm, pip
from ironship.packaging.deps.inventory import packages_of
from ironship.packaging.deps.model import Package, Vendored
from ironship.packaging.deps.recipe import Recipe
from ironship.packaging.deps.tools import Runner, ToolVersions, find_tool, pip_version, run_process
from ironship.packaging.deps.tree import TreeFile, index_tree, normalise
from ironship.packaging.fileset import FileEntry

INDEX_FORMAT = 1
Install = Callable[[Path, Path], None]  # (tree, scratch)


def deps_cache_dir(base: Path) -> Path:
    """``.ironship/cache/deps`` beside the manifest in ``base``."""
    return paths.state_dir(base) / "cache" / "deps"


def project_cache(
    base: Path, runner: Runner | None = None, on_build: Callable[[str], None] | None = None
) -> DepsCache:
    """The cache of the project whose manifest is in ``base`` (``.ironship/`` gets its
    ``.gitignore`` before anything is written there)."""
    return DepsCache(deps_cache_dir(base), runner or run_process, on_build, state_base=base)


@dataclass(frozen=True)
class Built:
    """A cached tree as package files (read from under ``KEY/tree/``) and its distributions."""

    entries: tuple[FileEntry, ...]
    packages: tuple[Package, ...]


class DepsCache:
    """Vendored trees by key, from memory, from the cache folder, or built."""

    def __init__(
        self,
        folder: Path,
        runner: Runner = run_process,
        on_build: Callable[[str], None] | None = None,
        *,
        state_base: Path | None = None,
    ) -> None:
        self.folder = folder
        self.state_base = state_base
        self.runner = runner
        self.on_build = on_build
        self.tools = ToolVersions(folder / "tools.json", runner)
        self.built = 0  # trees built by this object (the rest came from the cache)
        self._memo: dict[str, Built] = {}

    def vendored(self, recipe: Recipe) -> tuple[Vendored, tuple[FileEntry, ...]]:
        """The recipe's tree as package files, and what it holds."""
        tool, install = self._installer(recipe)
        key = recipe.key(tool)
        built = self._memo.get(key) or self._load(key) or self._build(key, recipe, install)
        self._memo[key] = built
        vendored = Vendored(recipe.kind, recipe.source, key, built.packages, recipe.source_path)
        return vendored, built.entries

    def write_runner(self, text: str) -> Path:
        """Store a generated runner by its content; returns where it is."""
        data = text.encode("utf-8")
        dest = self.folder / "runners" / f"{hashlib.sha256(data).hexdigest()}.sh"
        if not dest.is_file():
            self._prepare()
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".runner-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, dest)
        return dest

    def _prepare(self) -> None:
        if self.state_base is not None:
            paths.ensure_state_dir(self.state_base)

    def _installer(self, recipe: Recipe) -> tuple[str, Install]:
        """The installer's version (for the key) and how to run it; a missing tool is an
        error naming it."""
        who = f"worker '{recipe.worker.name}' ({recipe.source})"
        run = self.runner
        if recipe.kind == "pip":
            return f"pip {pip_version()}", lambda t, s: pip.install(recipe, t, s, run)
        if recipe.kind == "npm":
            tool = find_tool("npm", who, npm.INSTALL_HINT)
            return self.tools.version(tool), lambda t, s: npm.install(recipe, t, s, run, tool)
        if recipe.kind == "bundler":
            tool = find_tool("bundle", who, bundler.INSTALL_HINT)
            ruby = find_tool("ruby", who, "install Ruby")
            version = f"{self.tools.version(tool)}; ruby {self._ruby(ruby)}"
            return version, lambda t, s: bundler.install(recipe, t, s, run, tool)
        tool = find_tool("composer", who, composer.INSTALL_HINT)
        php = find_tool("php", who, "install PHP (php-cli)")
        php_version = self.tools.version(php, ("-r", "echo PHP_VERSION;"))
        version = f"{self.tools.version(tool)}; php {php_version}"
        return version, lambda t, s: composer.install(recipe, t, s, run, tool)

    def _ruby(self, ruby: Path) -> str:
        return self.tools.version(ruby, ("-e", "print RUBY_VERSION"))

    def _load(self, key: str) -> Built | None:
        try:
            doc = json.loads((self.folder / key / "index.json").read_text(encoding="utf-8"))
            if doc.get("format") != INDEX_FORMAT:
                return None
            # One str join per file: Path arithmetic here was most of a warm plan's time.
            tree = f"{self.folder / key / 'tree'}{os.sep}"
            entries = tuple(
                FileEntry(p, bool(x), s, int(n), Path(tree + p)) for p, x, s, n in doc["files"]
            )
            packages = tuple(Package(n, v, tuple(ps)) for n, v, ps in doc["packages"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or damaged: built again
        return Built(entries, packages)

    def _build(self, key: str, recipe: Recipe, install: Install) -> Built:
        if self.on_build is not None:
            self.on_build(
                f"{recipe.worker.name}: installing {recipe.kind} dependencies ({recipe.source})"
            )
        self._prepare()
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=self.folder))
        try:
            tree = scratch / "tree"
            tree.mkdir()
            install(tree, scratch)
            normalise(tree)
            files = index_tree(tree)
            packages = packages_of(recipe.kind, [f.path for f in files], _reader(tree))
            _finish(scratch, files, packages)
            self._publish(scratch, key)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
        self.built += 1
        found = self._load(key)
        if found is None:
            raise IronshipError(
                f"the dependency cache {self.folder / key} could not be read back",
                hint=f"delete {self.folder} and run again",
            )
        return found

    def _publish(self, scratch: Path, key: str) -> None:
        final = self.folder / key
        try:
            os.rename(scratch, final)
        except OSError:
            if not (final / "index.json").is_file():
                raise  # not another process's finished tree: a real failure
            # Another process finished the same key first; its tree is identical.


def _reader(tree: Path) -> Callable[[str], bytes | None]:
    def read(path: str) -> bytes | None:
        with contextlib.suppress(OSError):
            return (tree / path).read_bytes()
        return None

    return read


def _finish(scratch: Path, files: tuple[TreeFile, ...], packages: tuple[Package, ...]) -> None:
    """Leave only ``tree/`` and its ``index.json`` in ``scratch``."""
    for entry in scratch.iterdir():
        if entry.name == "tree":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    doc = {
        "format": INDEX_FORMAT,
        "files": [[f.path, f.executable, f.sha256, f.size] for f in files],
        "packages": [[p.name, p.version, list(p.paths)] for p in packages],
    }
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    (scratch / "index.json").write_text(text, encoding="utf-8")
