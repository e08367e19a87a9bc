"""Node dependencies: a node worker's ``package.json`` with its lock, installed by ``npm ci``.

Only a ``package.json`` that declares ``dependencies`` (or ``optionalDependencies``) vendors
anything; it then needs ``package-lock.json`` (or ``npm-shrinkwrap.json``): ``npm ci`` installs
exactly the lock, for Linux x64 (``--os``/``--cpu``), without devDependencies or install
scripts, and without ``.bin`` links. The lock, ``package.json`` and an ``.npmrc`` are copied into
a scratch folder and npm runs there, never in the worker's folder; its ``node_modules/`` becomes
the package's, found by Node's own resolution from the entry (so no runner is needed).
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

LOCKS = ("package-lock.json", "npm-shrinkwrap.json")
TARGET = (("os", "linux"), ("cpu", "x64"))
INSTALL_HINT = "install Node.js with npm (e.g. the nodejs and npm packages)"
_TAIL = 12


def recipe(worker: Worker) -> Recipe | None:
    """The npm Recipe of a node worker whose package.json declares dependencies."""
    if worker.runtime != "node":
        return None
    manifest = worker.root / "package.json"
    if not manifest.is_file():
        return None
    doc = read_json(worker, manifest)
    if not doc.get("dependencies") and not doc.get("optionalDependencies"):
        return None
    lock = next((worker.root / n for n in LOCKS if (worker.root / n).is_file()), None)
    if lock is None:
        raise IronshipError(
            f"worker '{worker.name}': {manifest} declares dependencies, but there is no "
            f"package-lock.json beside it",
            hint=f"run 'npm install' in {worker.root} and commit package-lock.json: ironship "
            "installs exactly the lock (npm ci)",
        )
    files = [manifest, lock, worker.root / ".npmrc"]
    inputs = tuple(read_input(worker, f, f.name) for f in files if f.is_file())
    target = (("node", stack_version(worker, "node")), *TARGET)
    return Recipe(
        "npm", worker, lock.name, package_path(worker, lock), inputs, target, (), ("node_modules/",)
    )


def install(recipe: Recipe, tree: Path, scratch: Path, runner: Runner, npm: Path) -> None:
    """``npm ci`` in ``scratch`` with the worker's package files; its node_modules → tree."""
    import shutil  # shutil loads bz2 and lzma: only when installing

    worker = recipe.worker
    work = scratch / "npm"
    work.mkdir()
    for name in ("package.json", *LOCKS, ".npmrc"):
        if (worker.root / name).is_file():
            shutil.copyfile(worker.root / name, work / name)
    argv = [str(npm), "ci", "--omit=dev", "--ignore-scripts", "--no-bin-links", "--no-audit"]
    argv += ["--no-fund", *(f"--{k}={v}" for k, v in TARGET)]
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_progress": "false"}
    done = runner(argv, cwd=work, env=env)
    if done.returncode != 0:
        text = (done.stderr + "\n" + done.stdout).strip()
        tail = "\n".join(text.splitlines()[-_TAIL:])
        hint = "run 'npm ci' in the worker's folder to see the whole output"
        if "in sync" in text:
            hint = "package.json and its lock disagree: run 'npm install' and commit the lock"
        raise IronshipError(
            f"worker '{worker.name}': npm ci failed (exit {done.returncode}) for "
            f"{recipe.source}:\n{tail}",
            hint=hint,
        )
    if (work / "node_modules").is_dir():
        (work / "node_modules").rename(tree / "node_modules")
