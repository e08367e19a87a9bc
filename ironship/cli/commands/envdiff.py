"""``ironship diff --env A --env B``: whether two environments run the same packages and settings.

The manifest is resolved once per environment (for the worker names and each target), each
target is read with one code list, and ``deploy/revdiff.compare_environments`` compares them.
Settings are compared as deployed and shown by name; env and config values never.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ironship import FORMAT_VERSION
from ironship.cli.options import connected, manifest_of
from ironship.cli.ui import err, out, print_json
from ironship.deploy.models import SettingChange
from ironship.deploy.planner import select_workers
from ironship.deploy.revdiff import Deployed, EnvironmentDiff, compare_environments
from ironship.iron.target import ConnectOptions
from ironship.iron.types import Code
from ironship.manifest.models import Manifest

CHECKSUM = 8


def setting_line(change: SettingChange) -> str:
    """``env.NAME added`` as it is, not ``env.NAME added changed``; values never."""
    if change.sensitive and change.key.endswith((" added", " removed")):
        return change.key
    return change.describe()


def _read(file: Path, conn: ConnectOptions, env: str, quiet: bool) -> tuple[Manifest, list[Code]]:
    """The manifest as ``env`` resolves it, and the code list of its target."""
    manifest = manifest_of(file, replace(conn, env=env))
    with connected(manifest, conn, quiet=True, create_engine=False) as tgt:
        if not quiet:
            err.print(f"[dim]{env}: {tgt.description}[/dim]")
        return manifest, tgt.client.list_codes()


def diff_environments(
    file: Path,
    conn: ConnectOptions,
    envs: tuple[str, str],
    only: tuple[str, ...],
    *,
    quiet: bool,
) -> tuple[EnvironmentDiff, ...]:
    """Compare environments ``envs`` (first → second) for the manifest's workers, or ``only``."""
    first, second = envs
    manifest, before = _read(file, conn, first, quiet)
    names = [w.name for w in select_workers(manifest, only)]
    _, after = _read(file, conn, second, quiet)
    return compare_environments(names, (first, before), (second, after))


def _package(d: EnvironmentDiff) -> str:
    a, b = d.before, d.after
    if d.package is None:
        missing = [s.environment for s in (a, b) if s.code is None]
        if len(missing) == 2:
            return f"not deployed in {missing[0]} nor in {missing[1]}"
        there = b if a.code is None else a
        return f"not deployed in {missing[0]} ({there.label})"
    assert a.code is not None
    checksum = (a.code.latest_checksum or "-")[:CHECKSUM]
    if d.package == "same":
        commit = a.commit if a.commit == b.commit else f"{a.label}, {b.label}"
        return f"same package ({commit}, checksum {checksum})"
    if d.package == "same-files":
        return f"same files in different zips ({a.label}, {b.label})"
    return f"different packages ({a.label}, {b.label})"


def line(d: EnvironmentDiff) -> str:
    """``fib: same package (a1b2c3d, checksum 9f3c2a1b), settings differ: …``."""
    text = f"{d.worker}: {_package(d)}"
    if d.package is None:
        return text
    if not d.settings:
        return text + ", same settings"
    return text + ", settings differ: " + ", ".join(setting_line(s) for s in d.settings)


def _side_json(side: Deployed) -> dict[str, Any]:
    code, stamps = side.code, side.stamps
    return {
        "environment": side.environment,
        "deployed": code is not None,
        "rev": code.rev if code else None,
        "checksum": code.latest_checksum if code else None,
        "files_digest": stamps.files,
        "git_sha": stamps.git_sha,
        "git_dirty": stamps.git_dirty,
    }


def settings_json(settings: Iterable[SettingChange]) -> list[dict[str, Any]]:
    """Setting changes for --json; env and config values are never shown, only their names
    (sensitive changes)."""
    return [
        {
            "key": s.key,
            "before": None if s.sensitive else s.before,
            "after": None if s.sensitive else s.after,
            "sensitive": s.sensitive,
        }
        for s in settings
    ]


def _worker_json(d: EnvironmentDiff) -> dict[str, Any]:
    return {
        "worker": d.worker,
        "from": _side_json(d.before),
        "to": _side_json(d.after),
        "package": d.package,  # same, same-files, different; null when a side is not deployed
        "settings": settings_json(d.settings),
        "same": d.same,
    }


def render(diffs: tuple[EnvironmentDiff, ...], envs: tuple[str, str], as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "format_version": FORMAT_VERSION,
                "from": envs[0],
                "to": envs[1],
                "workers": [_worker_json(d) for d in diffs],
                "differs": not all(d.same for d in diffs),
            }
        )
        return
    for d in diffs:
        out.print(line(d), markup=False)
