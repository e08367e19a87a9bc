"""``ironship config``: the fully resolved manifest, and where each value came from.

Nothing is sent anywhere and nothing connects: the target line says where a command with
the same options would deploy. Secrets show as ``(sensitive)``, and values under keys such
as ``password`` or ``token`` as ``[FILTERED]`` (``ironship.secrets.filter_sensitive``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text

from ironship import FORMAT_VERSION
from ironship.cli.options import (
    NO_OPTIONS,
    FileOpt,
    JsonOpt,
    environment_layer,
    with_connection,
)
from ironship.cli.ui import out, print_json, table
from ironship.iron.target import ConnectOptions, describe_target
from ironship.manifest.explain import Explained, Setting, explain_manifest
from ironship.paths import DEFAULT_MANIFEST
from ironship.secrets import filter_sensitive


@with_connection
def config(
    file: FileOpt = Path(DEFAULT_MANIFEST),
    as_json: JsonOpt = False,
    conn: ConnectOptions = NO_OPTIONS,
) -> None:
    """Print the resolved manifest with the origin of each value; secrets masked."""
    explained = explain_manifest(file, conn.env, secrets_file=conn.secrets_file)
    manifest = explained.manifest
    opts = replace(conn, environment=environment_layer(manifest))
    kind, where = describe_target(manifest.directory, opts)
    doc = _document(explained, kind, where)
    if as_json:
        print_json(doc)
        return
    environment = f", environment {doc['environment']}" if doc["environment"] else ""
    out.print(f"{file}{environment}", markup=False)
    out.print(f"target: {where}", markup=False)
    for key, shown in doc["target"]["settings"].items():
        out.print(f"  {key}: {_text(shown['value'])}  ({shown['from']})", markup=False)
    for worker in doc["workers"]:
        out.print("", markup=False)
        out.print(f"worker {worker['name']}", markup=False)
        grid = table("setting", "value", "from")
        for key, shown in worker["settings"].items():
            # Text cells: "[FILTERED]" is a value, not console markup.
            grid.add_row(Text(key), Text(_text(shown["value"])), Text(shown["from"]))
        out.print(grid, markup=False)


def _document(explained: Explained, kind: str, where: str) -> dict[str, Any]:
    """The ``--json`` document: every value masked and filtered, with its origin."""
    manifest = explained.manifest
    return {
        "format_version": FORMAT_VERSION,
        "manifest": str(manifest.path),
        "environment": manifest.environment.name if manifest.environment else None,
        "environments": list(manifest.environments),
        "target": {
            "kind": kind,
            "description": where,
            "settings": {s.key: _shown(s) for s in explained.target},
        },
        "workers": [
            {"name": name, "settings": {s.key: _shown(s) for s in settings}}
            for name, settings in explained.workers.items()
        ],
    }


def _shown(setting: Setting) -> dict[str, Any]:
    # Filtered as a one-key mapping, so that a key like env.DB_PASSWORD filters its own value.
    value = filter_sensitive({setting.key: setting.value})[setting.key]
    return {
        "value": value,
        "from": str(setting.origin),
        "variables": list(setting.origin.variables),
    }


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
