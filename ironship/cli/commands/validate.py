"""``ironship validate`` and ``ironship schema``: the manifest alone, no network."""

from __future__ import annotations

import sys
from pathlib import Path

from ironship.cli.options import EnvOpt, FileOpt, SecretsFileOpt
from ironship.cli.ui import err, out
from ironship.cli.validation import check
from ironship.errors import IronshipError
from ironship.manifest.schema import schema_text
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
    problems, ok = check(file, env, secrets_file)
    if problems:
        for p in problems:
            err.print(p, markup=False)
        count = len(problems)
        raise IronshipError(f"{file}: {count} problem{'s' if count != 1 else ''}")
    out.print(ok, markup=False)


def schema() -> None:
    """Print the JSON Schema of ironship.yml."""
    sys.stdout.write(schema_text())
