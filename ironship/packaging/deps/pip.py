"""Python dependencies: ``requirements:`` installed by pip into ``__pips__/``.

pip is the running interpreter's (``sys.executable -m pip``) and installs for the target, not
for this machine: ``--python-version`` (``python:``), ``--platform manylinux2014_x86_64``,
``--implementation cp`` and ``--only-binary=:all:``, since the IronWorker runtime compiles
nothing (docs/ironworker-api.md §6 (Worker runtime contract)). ``build_from_source: true``
drops those four, so pip may build sdists, for this machine's Python and platform.
Hash-pinned files (``--hash=…`` on each line) put pip in hash-checking mode by themselves.
pip runs in the worker's root, so relative paths in ``pip_args`` are the worker's.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import sysconfig
from pathlib import Path

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.deps.recipe import Recipe, package_path, read_input
from ironship.packaging.deps.tools import Completed, Runner, pip_command

PLATFORM = "manylinux2014_x86_64"  # IronWorker runs Linux x86_64
IMPLEMENTATION = "cp"
_NESTED = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s+|\s*=\s*)(\S+)")
_NOT_FOUND = re.compile(r"No matching distribution found for ([^\s;]+)")
_TAIL = 12  # lines of pip's output an error shows


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def recipe(worker: Worker) -> Recipe | None:
    """The pip Recipe of ``worker``, or None when it declares no requirements."""
    declared = worker.requirements
    if declared is None:
        return None
    if isinstance(declared, str):
        path = worker.root / declared
        inputs = _with_nested(worker, path, set())
        source, source_path = declared, package_path(worker, path)
    else:
        inputs = ["\n".join(declared).encode("utf-8")]
        source, source_path = "requirements", None
    target: tuple[tuple[str, str], ...]
    if worker.build_from_source:
        target = (("python", sys.version), ("platform", sysconfig.get_platform()))
    else:
        python = worker.python or running_python()
        target = (("python", python), ("platform", PLATFORM), ("implementation", IMPLEMENTATION))
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PIP_"))
    options = (
        f"build_from_source={worker.build_from_source}",
        *worker.pip_args,
        "env:" + _digest(repr(env)),
    )
    return Recipe(
        "pip", worker, source, source_path, tuple(inputs), target, options, ("__pips__/",)
    )


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _with_nested(worker: Worker, path: Path, seen: set[Path]) -> list[bytes]:
    """The file's bytes and those of the files it includes with -r/-c, depth first."""
    resolved = path.resolve()
    if resolved in seen:
        return []
    seen.add(resolved)
    content = read_input(worker, path, "requirements file")
    out = [content]
    for line in content.decode("utf-8", errors="replace").splitlines():
        match = _NESTED.match(line)
        if match and "://" not in match.group(1):
            nested = path.parent / match.group(1)
            if nested.is_file():
                out += _with_nested(worker, nested, seen)
    return out


def install(recipe: Recipe, tree: Path, scratch: Path, runner: Runner) -> None:
    """Run pip so that ``tree/__pips__`` holds the requirements; an error explains failures."""
    worker = recipe.worker
    argv = [*pip_command(), "install", "--target", str(tree / "__pips__"), "--no-compile"]
    argv += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location"]
    if not worker.build_from_source:
        python = dict(recipe.target)["python"]
        argv += ["--only-binary=:all:", "--platform", PLATFORM, "--python-version", python]
        argv += ["--implementation", IMPLEMENTATION]
    if isinstance(worker.requirements, str):
        argv += ["-r", str((worker.root / worker.requirements).resolve())]
    else:
        listed = scratch / "requirements.txt"
        listed.write_text("\n".join(worker.requirements or ()) + "\n", encoding="utf-8")
        argv += ["-r", str(listed)]
    argv += list(worker.pip_args)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INPUT": "1"}
    done = runner(argv, cwd=worker.root, env=env)
    if done.returncode != 0:
        raise pip_error(recipe, done)


def pip_error(recipe: Recipe, done: Completed) -> IronshipError:
    """What went wrong, in words that name the worker, the requirement and the fix."""
    worker = recipe.worker
    where = f"{worker.location}: " if worker.location else ""
    head = f"{where}workers.{worker.name}.requirements"
    text = done.stderr + "\n" + done.stdout
    missing = _NOT_FOUND.search(text)
    if "DO NOT MATCH THE HASHES" in text:
        return IronshipError(
            f"{head}: a downloaded file does not match its --hash in {recipe.source}",
            hint="the index served other bytes than the lock pins: regenerate the hashes "
            "(pip-compile --generate-hashes) only if you trust the change",
        )
    if "require-hashes" in text or "Hashes are required" in text:
        return IronshipError(
            f"{head}: {recipe.source} is hash-checked, but not every requirement is pinned "
            "with ==VERSION and --hash",
            hint="pin every requirement, dependencies included: pip-compile --generate-hashes",
        )
    if missing and not worker.build_from_source:
        python = dict(recipe.target)["python"]
        return IronshipError(
            f"{head}: no wheel of '{missing.group(1)}' for Python {python} on {PLATFORM}; it may "
            "exist only as a source distribution, which needs a compiler to build",
            hint=f"check its name and the index pip uses; pin a version that publishes "
            f"wheels, or set 'build_from_source: true' on worker {worker.name} to build it on "
            "this machine (for this machine's Python and platform)",
        )
    tail = "\n".join(text.strip().splitlines()[-_TAIL:])
    return IronshipError(
        f"{head}: pip install failed (exit {done.returncode}):\n{tail}",
        hint=f"check {recipe.source} and pip_args; pip's own settings (PIP_* variables, "
        "pip.conf) apply too",
    )
