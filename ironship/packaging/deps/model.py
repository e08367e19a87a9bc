"""The values of vendored dependencies: what a worker vendors, and what a vendored tree holds.

Pure dataclasses, importable by ``deploy/diff.py`` (which must load no file-matching or HTTP
library: tests/deploy/test_boundaries.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["pip", "npm", "bundler", "composer"]

# Where each kind's tree sits in the package (the names IronWorker's own tooling and each
# ecosystem use: docs/ironworker-api.md §6 (Worker runtime contract)).
PREFIXES: dict[Kind, str] = {
    "pip": "__pips__/",
    "npm": "node_modules/",
    "bundler": "vendor/bundle/",
    "composer": "vendor/",
}
RUNNER_NAME = "__runner__.sh"


@dataclass(frozen=True)
class Package:
    """One installed distribution: its name, version and the package paths it owns."""

    name: str
    version: str  # "" when the tree does not say (files no distribution claims)
    paths: tuple[str, ...] = ()  # package paths (prefix included), sorted

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True)
class Vendored:
    """A worker's vendored tree: which tool made it, from what, and what it holds.

    ``source`` is what plan names (``requirements.txt``, ``package-lock.json``, or
    ``requirements`` for a list written in the manifest); ``key`` is the cache key (a digest
    of the inputs, the target and the tool's version).
    """

    kind: Kind
    source: str
    key: str
    packages: tuple[Package, ...] = ()  # sorted by name, then version
    source_path: str | None = None  # the source's package path, when the package holds it

    @property
    def prefix(self) -> str:
        return PREFIXES[self.kind]

    def versions(self) -> dict[str, tuple[str, ...]]:
        """name -> its installed versions (npm may install one name at several versions)."""
        out: dict[str, list[str]] = {}
        for package in self.packages:
            if package.version:
                out.setdefault(package.name, []).append(package.version)
        return {name: tuple(sorted(v)) for name, v in out.items()}
