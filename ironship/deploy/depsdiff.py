"""What changed in a worker's vendored dependencies, by package name and version.

Pure, like deploy/diff.py which uses it: the files of a vendored tree (``__pips__/…``,
``node_modules/…``) are never listed one by one in a plan; each tree that differs is one
``dependencies`` line naming its source and the cause, followed by the distributions added,
removed or changed, read from both packages (packaging/deps/inventory.py):

    ~ dependencies (requirements.txt changed)
        + tinyextra 2.0.0
        ~ tinypure 1.0.0 → 1.1.0
"""

from __future__ import annotations

from collections.abc import Sequence

from ironship.deploy.models import FileChanges
from ironship.packaging.deps.model import PREFIXES, Vendored

INDENT = "    "


def vendored_prefixes(*sides: Sequence[Vendored]) -> tuple[str, ...]:
    """The package folders of the trees on either side."""
    return tuple(sorted({v.prefix for side in sides for v in side}))


def is_vendored(path: str, prefixes: Sequence[str]) -> bool:
    return any(path.startswith(p) for p in prefixes)


def dependency_reasons(
    local: Sequence[Vendored], remote: Sequence[Vendored], files: FileChanges
) -> list[str]:
    """One ``dependencies`` line per tree whose files differ, each followed by its packages."""
    touched = {*files.added, *files.removed, *files.changed}
    out: list[str] = []
    for kind, prefix in PREFIXES.items():
        mine = next((v for v in local if v.kind == kind), None)
        theirs = next((v for v in remote if v.kind == kind), None)
        if (mine or theirs) and any(p.startswith(prefix) for p in touched):
            out += _tree_reasons(mine, theirs, files)
    return out


def new_worker_reasons(local: Sequence[Vendored]) -> list[str]:
    """The trees of a worker the server does not have yet, with their packages."""
    return [line for tree in local for line in _tree_reasons(tree, None, FileChanges())]


def _tree_reasons(mine: Vendored | None, theirs: Vendored | None, files: FileChanges) -> list[str]:
    before = theirs.versions() if theirs is not None else {}
    after = mine.versions() if mine is not None else {}
    lines = package_lines(before, after)
    if mine is None:
        head = f"- dependencies ({_count(len(before))})"
    elif theirs is None:
        head = f"+ dependencies ({mine.source}: {_count(len(after))})"
    else:
        head = f"~ dependencies ({_cause(mine, files)})"
        lines = lines or [f"{INDENT}same packages; their files differ"]
    return [head, *lines]


def package_lines(
    before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]
) -> list[str]:
    """``+ name version``, ``- name version``, ``~ name old → new``, sorted by name."""
    out = []
    for name in sorted(before.keys() | after.keys(), key=lambda n: (n.lower(), n)):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            out.append(f"{INDENT}+ {name} {', '.join(new)}")
        elif new is None and old is not None:
            out.append(f"{INDENT}- {name} {', '.join(old)}")
        elif old != new and old is not None and new is not None:
            out.append(f"{INDENT}~ {name} {', '.join(old)} → {', '.join(new)}")
    return out


def _cause(mine: Vendored, files: FileChanges) -> str:
    """Why the tree differs: its source changed, or the same source installed differently."""
    path = mine.source_path
    if path is None or path in files.changed or path in files.added:
        return f"{mine.source} changed"
    return f"reinstalled; {mine.source} unchanged"


def _count(n: int) -> str:
    return f"{n} package" if n == 1 else f"{n} packages"
