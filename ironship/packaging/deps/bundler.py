"""Ruby dependencies: a ruby worker's ``Gemfile.lock``, installed by Bundler into
``vendor/bundle``.

``bundle install`` runs in a scratch folder holding copies of the ``Gemfile`` and its lock, in
deployment mode (the lock must be complete and is never changed), without the development
and test groups. The package also gets the ``.bundle/config`` that points Bundler at
``vendor/bundle``, so a worker that does ``require "bundler/setup"`` (Bundler's documented
way to load a bundle) finds its gems in the task directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.deps.recipe import Recipe, package_path, read_input, stack_version
from ironship.packaging.deps.tools import Runner

CONFIG = (
    'BUNDLE_PATH: "vendor/bundle"\nBUNDLE_DEPLOYMENT: "true"\nBUNDLE_WITHOUT: "development:test"\n'
)
INSTALL_HINT = "install Bundler (e.g. 'gem install bundler' or the ruby-bundler package)"
TARGET = (("platform", "x86_64-linux"),)
_TAIL = 12


def recipe(worker: Worker) -> Recipe | None:
    """The bundler Recipe of a ruby worker with a Gemfile, or None."""
    if worker.runtime != "ruby":
        return None
    gemfile, lock = worker.root / "Gemfile", worker.root / "Gemfile.lock"
    if not gemfile.is_file() and not lock.is_file():
        return None
    if not lock.is_file() or not gemfile.is_file():
        missing = lock if not lock.is_file() else gemfile
        raise IronshipError(
            f"worker '{worker.name}': {missing} is missing (Bundler needs the Gemfile and "
            "its lock)",
            hint=f"run 'bundle lock' in {worker.root} and commit both files",
        )
    inputs = (read_input(worker, gemfile, "Gemfile"), read_input(worker, lock, "Gemfile.lock"))
    target = (("ruby", stack_version(worker, "ruby")), *TARGET)
    return Recipe(
        "bundler",
        worker,
        "Gemfile.lock",
        package_path(worker, lock),
        inputs,
        target,
        (),
        ("vendor/bundle/", ".bundle/"),
    )


def install(recipe: Recipe, tree: Path, scratch: Path, runner: Runner, bundle: Path) -> None:
    """``bundle install`` in ``scratch``; vendor/bundle and .bundle/config go to ``tree``."""
    import shutil  # shutil loads bz2 and lzma: only when installing

    worker = recipe.worker
    work = scratch / "bundler"
    (work / ".bundle").mkdir(parents=True)
    for name in ("Gemfile", "Gemfile.lock"):
        shutil.copyfile(worker.root / name, work / name)
    (work / ".bundle" / "config").write_text("---\n" + CONFIG, encoding="utf-8")
    env = {**os.environ, "BUNDLE_GEMFILE": str(work / "Gemfile")}
    env.pop("BUNDLE_APP_CONFIG", None)
    done = runner([str(bundle), "install", "--jobs", "4"], cwd=work, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stderr + "\n" + done.stdout).strip().splitlines()[-_TAIL:])
        raise IronshipError(
            f"worker '{worker.name}': bundle install failed (exit {done.returncode}):\n{tail}",
            hint="run 'bundle install' in the worker's folder to see the whole output",
        )
    (tree / "vendor").mkdir(parents=True, exist_ok=True)
    if (work / "vendor" / "bundle").is_dir():
        (work / "vendor" / "bundle").rename(tree / "vendor" / "bundle")
    (tree / ".bundle").mkdir()
    shutil.copyfile(work / ".bundle" / "config", tree / ".bundle" / "config")
