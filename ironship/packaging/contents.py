"""Everything a worker's package holds: its own files, its vendored dependencies and, when it
needs set-up, the generated ``__runner__.sh`` (README "Workers with dependencies").

A worker without dependencies gets exactly ``select_fileset``'s FileSet, so its package and
digests do not change. One with dependencies gets its own files (minus the folders the
vendored trees replace, e.g. a local ``node_modules/``), then each tree's files from the
cache (packaging/deps/cache.py), then the runner when Python dependencies need one; the
upload then runs the runner (deploy/settings.py reads ``FileSet.runner``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging import resident
from ironship.packaging.deps import bundler, composer, npm, pip
from ironship.packaging.deps.model import RUNNER_NAME, Vendored
from ironship.packaging.deps.recipe import Recipe
from ironship.packaging.fileset import FileEntry, FileSet, Hasher, select_files, select_fileset

if TYPE_CHECKING:
    # The cache and the runner are loaded only for a worker with dependencies: ``validate``
    # and a plan of workers without any never pay for them (cli/quick.py).
    from ironship.packaging.deps.cache import DepsCache


def recipes_of(worker: Worker) -> tuple[Recipe, ...]:
    """What the worker vendors (reads its lock files; installs nothing)."""
    found = (m.recipe(worker) for m in (pip, npm, bundler, composer))
    return tuple(r for r in found if r is not None)


def select_package(
    worker: Worker,
    base: Path,
    cache: Hasher | None = None,
    *,
    deps: DepsCache | None = None,
) -> FileSet:
    """The worker's whole package. ``base`` is the manifest's folder (where the dependency
    cache lives); ``deps`` shares one cache object between workers (a plan's)."""
    recipes = recipes_of(worker)
    if not recipes:
        return _own_files(worker, cache)
    from ironship.packaging.deps.cache import project_cache

    store = deps or project_cache(base)
    replaced = tuple(p for r in recipes for p in r.replaces)
    own = select_files(worker, cache, replaced=replaced)
    vendored: list[Vendored] = []
    files: dict[str, FileEntry] = {f.path: f for f in own}
    for recipe in recipes:
        tree, entries = store.vendored(recipe)
        vendored.append(tree)
        for entry in entries:
            _add(files, entry, worker)
    runner = None
    pips = next((r for r in recipes if r.kind == "pip"), None)
    if pips is not None:
        runner = RUNNER_NAME
        _add(files, _runner_entry(worker, pips, store), worker)
    ordered = tuple(files[p] for p in sorted(files))
    return FileSet(worker.name, worker.root, ordered, deps=tuple(vendored), runner=runner)


def _own_files(worker: Worker, cache: Hasher | None) -> FileSet:
    """``select_fileset``, or what a resident process knows of it (packaging/resident.py)."""
    known = resident.current()
    if known is None:
        return select_fileset(worker, cache)
    key = resident.worker_key(worker)
    found = known.fileset(key)
    if found is None:
        found = select_fileset(worker, cache)
        known.computed(key, found)
    return found


def _runner_entry(worker: Worker, recipe: Recipe, store: DepsCache) -> FileEntry:
    python = dict(recipe.target)["python"]
    from ironship.packaging.deps.runner import runner_script

    text = runner_script(worker, python.split(" ")[0])
    source = store.write_runner(text)
    data = text.encode("utf-8")
    return FileEntry(RUNNER_NAME, True, hashlib.sha256(data).hexdigest(), len(data), source)


def _add(files: dict[str, FileEntry], entry: FileEntry, worker: Worker) -> None:
    if entry.path in files:
        raise IronshipError(
            f"worker '{worker.name}': '{entry.path}' is both one of its own files and one "
            "ironship generates for its dependencies",
            hint=f"rename or exclude '{entry.path}' (exclude: ['{entry.path}'])",
        )
    files[entry.path] = entry
