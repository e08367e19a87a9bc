"""``ironship validate`` without typer, for the common case: a valid manifest.

Starting typer (and pydantic, which typer 0.29 builds its parameters with) and rich costs
several times what reading and checking a manifest does (issue 12 §7; bench/RESULTS.md). So
``main`` hands ``validate`` with nothing but ``-f/--file``, ``--env`` and ``--secrets-file``
(and their environment variables, as cli/options.py declares them) to ``quick_validate``
first. It prints the one ``ok`` line when the manifest is valid and returns None for anything
else: any other argument, a problem, an unreadable file. The typer command then runs as
always, so help, every message and every exit code stay where cli/root.py makes them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ironship.paths import DEFAULT_MANIFEST

# option -> (name, environment variable), as FileOpt, EnvOpt and SecretsFileOpt declare them
_OPTIONS = {
    "-f": ("file", "IRONSHIP_FILE"),
    "--file": ("file", "IRONSHIP_FILE"),
    "--env": ("env", "IRONSHIP_ENV"),
    "--secrets-file": ("secrets_file", "IRONSHIP_SECRETS_FILE"),
}


def parse(args: list[str]) -> dict[str, str | None] | None:
    """The options of ``validate ARGS``, or None when ``args`` hold anything else."""
    values: dict[str, str | None] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        option, eq, value = arg.partition("=")
        if not eq and arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            option, value, eq = "-f", arg[2:], "="
        if option not in _OPTIONS or (not eq and not rest):
            return None
        if not eq:
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return None  # typer says what is wrong with it
        values[_OPTIONS[option][0]] = value
    for name, envvar in _OPTIONS.values():
        if name not in values:
            values[name] = os.environ.get(envvar) or None
    return values


def quick_validate(args: list[str]) -> int | None:
    """Exit code 0 after printing ``FILE: ok (…)``, or None: let the typer command answer."""
    options = parse(args)
    if options is None:
        return None
    from ironship.cli.validation import check

    file = Path(options["file"] or DEFAULT_MANIFEST)
    secrets = options["secrets_file"]
    try:
        problems, ok = check(file, options["env"], Path(secrets) if secrets else None)
    except Exception:  # the typer command reports it, as it does for every command
        return None
    if problems:
        return None
    sys.stdout.write(ok + "\n")
    sys.stdout.flush()
    return 0
