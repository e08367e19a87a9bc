"""Which distributions a vendored tree holds, by name and version, and which files each owns.

Read from what the installers leave behind, the same way for a tree on disk and for a zip
downloaded from the server (``read`` gives a package path's bytes, or None):

- pip: each ``*.dist-info`` folder (``Name``/``Version`` of its METADATA) and its ``RECORD``;
- npm: each ``node_modules/[@scope/]name/package.json``, at any depth;
- bundler: each ``vendor/bundle/ruby/*/gems/NAME-VERSION`` folder;
- composer: ``vendor/composer/installed.json``.

A file no distribution claims is listed under its first folder below the prefix, with no
version (``__pips__/bin (3 files)``).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ironship.packaging.deps.model import PREFIXES, Kind, Package, Vendored

Reader = Callable[[str], bytes | None]

_NPM_ROOT = re.compile(r"(?:.*/)?node_modules/(?:@[^/]+/)?[^/]+/package\.json")
_GEM_DIR = re.compile(r"vendor/bundle/ruby/[^/]+/gems/([^/]+)/.*")
_GEM_NAME = re.compile(r"(.+?)-(\d[^-]*)(?:-.+)?")


def packages_of(kind: Kind, paths: Iterable[str], read: Reader) -> tuple[Package, ...]:
    """The distributions of the ``kind`` tree among ``paths`` (package paths)."""
    prefix = PREFIXES[kind]
    inside = sorted(p for p in paths if p.startswith(prefix))
    finder = {"pip": _pip, "npm": _npm, "bundler": _bundler, "composer": _composer}[kind]
    owners = finder(inside, read)  # root (or label) -> (name, version, paths)
    claimed = {p for _name, _version, owned in owners.values() for p in owned}
    loose: dict[str, list[str]] = {}
    for path in inside:
        if path not in claimed:
            first = path[len(prefix) :].split("/", 1)[0]
            loose.setdefault(first, []).append(path)
    found = [Package(n, v, tuple(sorted(set(owned)))) for n, v, owned in owners.values()]
    found += [Package(first, "", tuple(owned)) for first, owned in loose.items()]
    return tuple(sorted(found, key=lambda p: (p.name.lower(), p.version, p.paths)))


Owners = dict[str, tuple[str, str, list[str]]]


def _text(read: Reader, path: str) -> str:
    raw = read(path)
    return raw.decode("utf-8", errors="replace") if raw is not None else ""


def _pip(paths: Sequence[str], read: Reader) -> Owners:
    prefix = PREFIXES["pip"]
    present = set(paths)
    owners: Owners = {}
    for folder in sorted({p.split("/", 2)[1] for p in paths if p.count("/") >= 2}):
        if not folder.endswith(".dist-info"):
            continue
        stem = folder[: -len(".dist-info")]
        name, _, version = stem.partition("-")
        meta = _metadata(_text(read, f"{prefix}{folder}/METADATA"))
        owned = [p for p in paths if p.startswith(f"{prefix}{folder}/")]
        owned += _record_paths(_text(read, f"{prefix}{folder}/RECORD"), present)
        owners[folder] = (meta.get("name", name), meta.get("version", version), owned)
    return owners


def _metadata(text: str) -> dict[str, str]:
    """``Name`` and ``Version`` of a METADATA file (an RFC 822 header block)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the body starts
        key, _, value = line.partition(":")
        if key.lower() in ("name", "version") and key.lower() not in out:
            out[key.lower()] = value.strip()
    return out


def _record_paths(record: str, present: set[str]) -> list[str]:
    """The package paths a RECORD lists that exist (scripts land in ``__pips__/bin``)."""
    prefix = PREFIXES["pip"]
    out = []
    for row in csv.reader(io.StringIO(record)):
        if not row or not row[0]:
            continue
        path = posixpath.normpath(prefix + row[0])
        if path not in present and "bin/" in row[0]:
            path = f"{prefix}bin/{posixpath.basename(row[0])}"
        if path in present:
            out.append(path)
    return out


def _npm(paths: Sequence[str], read: Reader) -> Owners:
    roots = sorted(
        (p[: -len("package.json")] for p in paths if _NPM_ROOT.fullmatch(p)),
        key=len,
        reverse=True,  # the deepest root owns a nested package's files
    )
    owners: Owners = {}
    for root in roots:
        found = _json(read(root + "package.json"))
        doc = found if isinstance(found, Mapping) else {}
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not name:
            name = root.rstrip("/").rsplit("node_modules/", 1)[-1]
        owners[root] = (name, version if isinstance(version, str) else "", [])
    for path in paths:
        owner = next((r for r in roots if path.startswith(r)), None)
        if owner is not None:
            owners[owner][2].append(path)
    return owners


def _bundler(paths: Sequence[str], read: Reader) -> Owners:
    owners: Owners = {}
    for path in paths:
        match = _GEM_DIR.fullmatch(path)
        if match is None:
            continue
        gem = match.group(1)
        if gem not in owners:
            parsed = _GEM_NAME.fullmatch(gem)
            name, version = (parsed.group(1), parsed.group(2)) if parsed else (gem, "")
            owners[gem] = (name, version, [])
    for path in paths:
        parts = path.split("/")
        gem = next((g for g in owners if g in parts or f"{g}.gemspec" in parts), None)
        if gem is not None:
            owners[gem][2].append(path)
    return owners


def _composer(paths: Sequence[str], read: Reader) -> Owners:
    prefix = PREFIXES["composer"]
    doc: Any = _json(read(f"{prefix}composer/installed.json"), default=[])
    listed = doc.get("packages", []) if isinstance(doc, Mapping) else doc
    owners: Owners = {}
    for entry in listed if isinstance(listed, list) else []:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name:
            version = entry.get("version")
            owners[name] = (name, version if isinstance(version, str) else "", [])
    for path in paths:
        name = "/".join(path[len(prefix) :].split("/")[:2])
        if name in owners:
            owners[name][2].append(path)
    return owners


def _json(raw: bytes | None, default: Any = None) -> Any:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None:
        return {} if default is None else default
    return value


def vendored_in_zip(path: Path, kinds: Iterable[Kind]) -> tuple[Vendored, ...]:
    """The vendored trees of the given kinds in an existing package zip (a server's)."""
    with zipfile.ZipFile(path) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]

        def read(name: str) -> bytes | None:
            try:
                return archive.read(name)
            except KeyError:
                return None

        return tuple(
            Vendored(kind, "", "", packages_of(kind, names, read))
            for kind in dict.fromkeys(kinds)
            if any(n.startswith(PREFIXES[kind]) for n in names)
        )
