"""The secrets file: a YAML mapping of names to strings that ``${secret:NAME}`` reads.

It holds real credentials, so it is never committed (README "Environments, variables and
secrets") and nothing here ever puts one of its values in a message: problems name the
file, the line and the key, never what is written there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ironship.errors import IronshipError, ManifestError
from ironship.manifest.yamlpos import Problem, read_yaml
from ironship.secrets import Secret

SECRET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_NAME_HINT = "use letters, digits, '_', '.' and '-'"
FORMAT_HINT = "a secrets file is a YAML mapping of names to strings, e.g. 'API_KEY: abc123'"


@dataclass(frozen=True)
class SecretsFile:
    """Where ``${secret:…}`` looks first. ``exists`` is False for a ``secrets_file:`` that
    names a file that is not there (then only the process environment is read)."""

    path: Path  # as the user wrote it, for messages
    exists: bool = True
    values: Mapping[str, Secret] = field(default_factory=dict, repr=False)


def read_secrets_file(path: Path, *, required: bool, named_by: str) -> SecretsFile:
    """Read ``path``; ``required`` (``--secrets-file``) makes a missing file an error.

    ``named_by`` says who named the file (``--secrets-file``, ``environments.prod.secrets_file``).
    """
    if not path.exists():
        if required:
            raise IronshipError(
                f"{named_by} {path}: no such file",
                hint=f"create it ({FORMAT_HINT}; never commit it) or fix the path",
            )
        return SecretsFile(path, exists=False)
    if path.is_dir():
        raise IronshipError(f"{named_by} {path}: is a folder", hint=FORMAT_HINT)
    doc = read_yaml(path)
    problems = list(doc.problems)
    values: dict[str, Secret] = {}
    if doc.data is not None and not isinstance(doc.data, dict):
        problems.append(Problem(doc.at(()), (), "expected a mapping of names to strings"))
    for name, value in (doc.data or {}).items() if isinstance(doc.data, dict) else ():
        where = doc.at((name,), key=True)
        if not SECRET_NAME.fullmatch(name):
            problems.append(Problem(where, (), f"invalid secret name {name!r}", _NAME_HINT))
        elif isinstance(value, dict | list) or value is None:
            message = f"{name}: expected a string"
            problems.append(Problem(where, (), message, "quote the value"))
        else:
            # The text as written: `PIN: 0123` is the secret 0123, not the number 83.
            raw = doc.raw.get((name,))
            values[name] = Secret(raw if raw is not None and not isinstance(value, str) else value)
    if problems:
        raise ManifestError([str(p) for p in sorted(problems, key=Problem.sort_key)], FORMAT_HINT)
    return SecretsFile(path, values=values)
