"""``ironship status``: each worker's deployed revision and whether it is in sync.

The git column comes from the stamps of the deployed revision: ``abc1234`` for a clean
commit, ``abc1234+dirty`` when the files uploaded differed from it, ``-`` when the upload
carries no commit (its files were not in git, or ironship did not upload it). A worker whose
files are not committed here is named under the table, since its next upload will carry no
commit either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ironship import FORMAT_VERSION
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    connected,
    manifest_of,
    with_connection,
)
from ironship.cli.ui import err, out, print_json, table
from ironship.deploy.models import WorkerPlan
from ironship.deploy.planner import make_plan
from ironship.deploy.stamps import GIT_DIRTY_KEY, GIT_SHA_KEY
from ironship.iron.target import ConnectOptions
from ironship.manifest.models import Manifest
from ironship.packaging.gitinfo import git_state
from ironship.paths import DEFAULT_MANIFEST

_STATES = {"unchanged": "in sync", "create": "not deployed", "orphan": "not in manifest"}


def _row(wp: WorkerPlan, manifest: Manifest) -> dict[str, Any]:
    stamps = wp.remote.env_vars if wp.remote else {}
    sha = stamps.get(GIT_SHA_KEY) or None
    dirty = stamps.get(GIT_DIRTY_KEY)
    worker = manifest.worker(wp.name)
    return {
        "name": wp.name,
        "rev": wp.remote.rev if wp.remote else None,
        "uploaded": wp.remote.latest_change if wp.remote else None,
        "git_sha": sha,
        "git_dirty": (dirty == "1") if sha and dirty in ("0", "1") else None,
        # whether the worker's files here are committed (None: not in the manifest)
        "files_in_git": git_state(worker.root).tracked if worker else None,
        "state": _STATES.get(wp.action, "out of sync"),
    }


def _git_cell(row: dict[str, Any]) -> str:
    sha = row["git_sha"]
    if not sha:
        return "-"
    return str(sha)[:7] + ("+dirty" if row["git_dirty"] else "")


@with_connection
def status(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Each worker: revision, when it was uploaded, its git commit, and whether it is in sync."""
    manifest = manifest_of(file, conn)
    with connected(manifest, conn, quiet=as_json) as tgt:
        the_plan = make_plan(tgt.client, manifest, name_files=False, secret_key=tgt.secret_key)
    rows = [_row(wp, manifest) for wp in the_plan.workers]
    if as_json:
        environment = manifest.environment.name if manifest.environment else None
        print_json({"format_version": FORMAT_VERSION, "environment": environment, "workers": rows})
        return
    grid = table("worker", "rev", "uploaded", "git", "state")
    for r in rows:
        grid.add_row(
            str(r["name"]),
            str(r["rev"] or "-"),
            str(r["uploaded"] or "-"),
            _git_cell(r),
            str(r["state"]),
        )
    out.print(grid)
    for r in rows:
        if r["files_in_git"] is False:
            err.print(
                f"note: {r['name']}: its files are not in git (never committed, or outside "
                "any repository), so uploads from here carry no commit",
                markup=False,
            )
