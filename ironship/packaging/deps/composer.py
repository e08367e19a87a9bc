"""PHP dependencies: a php worker's ``composer.lock``, installed by Composer into ``vendor/``.

``composer install --no-dev`` runs in a scratch folder holding copies of ``composer.json``
and its lock, without scripts or plugins; the worker loads ``vendor/autoload.php`` as
Composer documents, so no runner is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.deps.recipe import (
    Recipe,
    package_path,
    read_input,
    read_json,
    stack_version,
)
from ironship.packaging.deps.tools import Runner

INSTALL_HINT = "install Composer (https://getcomposer.org/download/)"
_TAIL = 12


def recipe(worker: Worker) -> Recipe | None:
    """The composer Recipe of a php worker whose composer.json requires packages, or None."""
    if worker.runtime != "php":
        return None
    manifest, lock = worker.root / "composer.json", worker.root / "composer.lock"
    if not manifest.is_file():
        return None
    required = read_json(worker, manifest).get("require")
    packages = [n for n in required if "/" in n] if isinstance(required, dict) else []
    if not packages and not lock.is_file():
        return None  # only php and ext-* requirements: nothing to install
    if not lock.is_file():
        raise IronshipError(
            f"worker '{worker.name}': {manifest} requires packages, but there is no "
            "composer.lock beside it",
            hint=f"run 'composer update' in {worker.root} and commit composer.lock: ironship "
            "installs exactly the lock",
        )
    inputs = (read_input(worker, manifest, "composer.json"), read_input(worker, lock, "lock"))
    target = (("php", stack_version(worker, "php")),)
    return Recipe(
        "composer",
        worker,
        "composer.lock",
        package_path(worker, lock),
        inputs,
        target,
        (),
        ("vendor/",),
    )


def install(recipe: Recipe, tree: Path, scratch: Path, runner: Runner, composer: Path) -> None:
    """``composer install --no-dev`` in ``scratch``; its vendor/ goes to ``tree``."""
    import shutil  # shutil loads bz2 and lzma: only when installing

    worker = recipe.worker
    work = scratch / "composer"
    work.mkdir()
    for name in ("composer.json", "composer.lock"):
        shutil.copyfile(worker.root / name, work / name)
    argv = [str(composer), "install", "--no-dev", "--no-interaction", "--no-progress"]
    argv += ["--no-scripts", "--no-plugins", "--prefer-dist"]
    done = runner(argv, cwd=work, env={**os.environ, "COMPOSER_NO_INTERACTION": "1"})
    if done.returncode != 0:
        tail = "\n".join((done.stderr + "\n" + done.stdout).strip().splitlines()[-_TAIL:])
        raise IronshipError(
            f"worker '{worker.name}': composer install failed (exit {done.returncode}):\n{tail}",
            hint="run 'composer install' in the worker's folder to see the whole output",
        )
    if (work / "vendor").is_dir():
        (work / "vendor").rename(tree / "vendor")
