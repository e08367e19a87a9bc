"""``ironship validate`` and ``ironship schema``: the manifest alone, no network."""

from __future__ import annotations

import sys
from pathlib import Path

from ironship.cli.options import FileOpt
from ironship.cli.ui import err, out
from ironship.errors import IronshipError
from ironship.manifest.load import load_manifest, validate_manifest
from ironship.manifest.schema import schema_text
from ironship.packaging.fileset import select_fileset
from ironship.paths import DEFAULT_MANIFEST


def validate(file: FileOpt = Path(DEFAULT_MANIFEST)) -> None:
    """Check the manifest without the network; report every problem at once."""
    problems = validate_manifest(file)
    workers = () if problems else load_manifest(file).workers
    # What only packaging sees: symlinks leaving the root, .ironshipignore hiding the entry.
    for w in workers:
        try:
            select_fileset(w)
        except IronshipError as exc:
            where = f"{w.location}: " if w.location else f"{file}: "
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            problems.append(f"{where}workers.{w.name}: {exc.message}{hint}")
    if problems:
        for p in problems:
            err.print(p, markup=False)
        count = len(problems)
        raise IronshipError(f"{file}: {count} problem{'s' if count != 1 else ''}")
    out.print(f"{file}: ok ({len(workers)} worker(s))", markup=False)


def schema() -> None:
    """Print the JSON Schema of ironship.yml."""
    sys.stdout.write(schema_text())
