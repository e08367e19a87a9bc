"""``ironship status``: each worker's deployed revision and whether it is in sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from ironship.cli.options import NO_OPTIONS, FileOpt, JsonOpt, connected, with_connection
from ironship.cli.ui import out, print_json
from ironship.deploy.planner import make_plan
from ironship.deploy.stamps import GIT_SHA_KEY
from ironship.iron.target import ConnectOptions
from ironship.manifest.load import load_manifest
from ironship.paths import DEFAULT_MANIFEST


@with_connection
def status(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Each worker: revision, when it was uploaded, and whether it is in sync."""
    manifest = load_manifest(file)
    with connected(manifest.directory, conn, quiet=as_json) as tgt:
        the_plan = make_plan(tgt.client, manifest, name_files=False)
    rows: list[dict[str, Any]] = []
    for wp in the_plan.workers:
        state = {"unchanged": "in sync", "create": "not deployed", "orphan": "not in manifest"}
        rows.append(
            {
                "name": wp.name,
                "rev": wp.remote.rev if wp.remote else None,
                "uploaded": wp.remote.latest_change if wp.remote else None,
                "git_sha": wp.remote.env_vars.get(GIT_SHA_KEY) if wp.remote else None,
                "state": state.get(wp.action, "out of sync"),
            }
        )
    if as_json:
        print_json({"format_version": "1", "workers": rows})
        return
    table = Table(show_edge=False, header_style="bold")
    for col in ("worker", "rev", "uploaded", "git", "state"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["rev"] or "-"),
            str(r["uploaded"] or "-"),
            str(r["git_sha"] or "-")[:10],
            str(r["state"]),
        )
    out.print(table)
