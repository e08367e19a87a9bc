"""What ``ironship validate`` finds: every problem, or the one line it prints when there are
none. Imports neither typer nor rich, so the quick path of ``validate`` (cli/quick.py) and
the typer command (cli/commands/validate.py) share it."""

from __future__ import annotations

from pathlib import Path

from ironship.errors import IronshipError
from ironship.manifest.load import checked
from ironship.manifest.models import Manifest
from ironship.packaging.contents import recipes_of
from ironship.packaging.fileset import select_fileset


def check(file: Path, env: str | None, secrets_file: Path | None) -> tuple[list[str], str]:
    """(every problem, each once; the ``FILE: ok (…)`` line to print when there are none).

    Raises IronshipError when the file can't be read or ``env`` is not one of its choices.
    """
    problems, manifests = checked(file, env, secrets_file=secrets_file)
    for manifest in manifests:
        problems += _packaging_problems(manifest, file)
    problems = list(dict.fromkeys(problems))
    return problems, f"{file}: ok ({_summary(manifests, env)})"


def _packaging_problems(manifest: Manifest, file: Path) -> list[str]:
    """What only packaging sees: symlinks leaving the root, .ironshipignore hiding the entry."""
    problems = []
    for w in manifest.workers:
        try:
            select_fileset(w)
            recipes_of(w)  # a missing lock or requirements file, without installing anything
        except IronshipError as exc:
            where = f"{w.location}: " if w.location else f"{file}: "
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            problems.append(f"{where}workers.{w.name}: {exc.message}{hint}")
    return problems


def _summary(manifests: list[Manifest], env: str | None) -> str:
    text = f"{len(manifests[0].workers) if manifests else 0} worker(s)"
    if env is not None:
        return f"{text}, environment {env}"
    names = manifests[0].environments if manifests else ()
    return f"{text}, environments {', '.join(names)}" if names else text
