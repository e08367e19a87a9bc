"""``ironship validate`` and ``ironship schema``: the manifest alone, no network."""

from __future__ import annotations

import sys
from pathlib import Path

from ironship.cli.options import EnvOpt, FileOpt, SecretsFileOpt
from ironship.cli.ui import err, out
from ironship.errors import IronshipError
from ironship.manifest.load import each_environment, validate_manifest
from ironship.manifest.models import Manifest
from ironship.manifest.schema import schema_text
from ironship.packaging.contents import recipes_of
from ironship.packaging.fileset import select_fileset
from ironship.paths import DEFAULT_MANIFEST


def validate(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    env: EnvOpt = None,
    secrets_file: SecretsFileOpt = None,
) -> None:
    """Check the manifest without the network; report every problem at once.

    With --env, the manifest as that environment resolves it (its secrets must be found);
    without, the file and every environment laid over it.
    """
    problems = validate_manifest(file, env, secrets_file=secrets_file)
    manifests = [] if problems else each_environment(file, env, secrets_file=secrets_file)
    for manifest in manifests:
        problems += _packaging_problems(manifest, file)
    problems = list(dict.fromkeys(problems))
    if problems:
        for p in problems:
            err.print(p, markup=False)
        count = len(problems)
        raise IronshipError(f"{file}: {count} problem{'s' if count != 1 else ''}")
    out.print(f"{file}: ok ({_summary(manifests, env)})", markup=False)


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


def schema() -> None:
    """Print the JSON Schema of ironship.yml."""
    sys.stdout.write(schema_text())
