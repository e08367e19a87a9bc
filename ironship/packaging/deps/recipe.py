"""What a worker vendors (a Recipe per installer) and the cache key of each.

A Recipe is read from the manifest (``requirements:``) or from the worker's root
(``package-lock.json``, ``Gemfile.lock``, ``composer.lock`` for a worker of that runtime). Its
key is the digest of everything that decides the installed bytes: the inputs' contents (not
their names, so workers sharing one requirements file share one tree), the target (Python
version, platform), the options, and the installer's version (README "Workers with
dependencies").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.deps.model import PREFIXES, Kind

# Bumped when what ironship does to a tree changes (packaging/deps/tree.py), so no older
# cached tree is reused.
TREE_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """One kind of dependencies of one worker, with what its tree depends on."""

    kind: Kind
    worker: Worker
    source: str  # what plan names: "requirements.txt", "requirements", "package-lock.json"
    source_path: str | None  # the source's package path, when the package ships it
    inputs: tuple[bytes, ...]  # the contents that decide the tree
    target: tuple[tuple[str, str], ...]  # ("python", "3.11"), ("platform", …)
    options: tuple[str, ...] = ()  # extra arguments and settings that change the install
    replaces: tuple[str, ...] = ()  # the worker's own folders the tree stands in for

    @property
    def prefix(self) -> str:
        return PREFIXES[self.kind]

    def key(self, tool: str) -> str:
        """The cache key of this recipe's tree when built by ``tool`` (its version)."""
        document = {
            "format": TREE_FORMAT,
            "kind": self.kind,
            "inputs": [hashlib.sha256(i).hexdigest() for i in self.inputs],
            "target": [list(t) for t in self.target],
            "options": list(self.options),
            "tool": tool,
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def read_input(worker: Worker, path: Path, what: str) -> bytes:
    """The bytes of one input file; an error naming the worker and the file when unreadable."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IronshipError(
            f"worker '{worker.name}': cannot read {what} '{path}': {exc.strerror or exc}",
            hint="check that the file exists and is readable",
        ) from exc


def package_path(worker: Worker, path: Path) -> str | None:
    """``path`` as a package path when it lies under the worker's root, else None."""
    resolved = path.resolve()
    root = worker.root.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None


def read_json(worker: Worker, path: Path) -> Mapping[str, object]:
    """A JSON object file of the worker (package.json, composer.json)."""
    try:
        doc = json.loads(read_input(worker, path, path.name))
    except ValueError as exc:
        raise IronshipError(
            f"worker '{worker.name}': {path} is not valid JSON: {exc}",
            hint=f"fix {path.name}",
        ) from exc
    if not isinstance(doc, Mapping):
        raise IronshipError(
            f"worker '{worker.name}': {path} is not a JSON object", hint=f"fix {path.name}"
        )
    return doc


def stack_version(worker: Worker, language: str) -> str:
    """The version of the worker's stack when it is one of ``language``'s, else ""."""
    stack = worker.stack or ""
    name, _, version = stack.partition("-")
    return version if name == language else ""
