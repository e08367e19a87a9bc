"""Shared CLI plumbing: consoles, option types, the top-level error handler (CONVENTIONS §10)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ironship.errors import IronshipError
from ironship.manifest import load_manifest
from ironship.model import Manifest
from ironship.target import ConnectOptions, Target, open_target

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_MANIFEST = "ironship.yml"

FileOpt = Annotated[
    Path,
    typer.Option("-f", "--file", help="The manifest.", envvar="IRONSHIP_FILE", show_default=True),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="'iron' (hosted IronWorker) or 'local' (the local engine). Default: iron when "
        "credentials are found, else local.",
        envvar="IRONSHIP_TARGET",
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="An iron.json file with credentials.")
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", help="IronWorker token (prefer IRON_TOKEN).")
]
ProjectOpt = Annotated[str | None, typer.Option("--project-id", help="IronWorker project id.")]
HostOpt = Annotated[str | None, typer.Option("--host", help="API host.")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Local engine folder (default .ironship/engine beside the manifest).",
        envvar="IRONSHIP_DATA",
    ),
]
ParallelOpt = Annotated[
    int, typer.Option("--parallelism", min=1, max=64, help="Concurrent uploads/tests.")
]


def connect_options(
    target: str | None,
    config: Path | None,
    token: str | None,
    project_id: str | None,
    host: str | None,
    data: Path | None,
) -> ConnectOptions:
    return ConnectOptions(
        target=target,
        config_file=config,
        token=token,
        project_id=project_id,
        host=host,
        data_dir=data,
    )


def read_manifest(path: Path) -> Manifest:
    return load_manifest(path)


@contextmanager
def connected(base: Path, opts: ConnectOptions, *, quiet: bool = False) -> Iterator[Target]:
    """Open the target and say in one line (on stderr) where we deploy."""
    with open_target(base, opts) as target:
        if not quiet:
            err.print(f"[dim]target: {target.description}[/dim]")
        yield target


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def fail(message: str, hint: str | None = None) -> IronshipError:
    return IronshipError(message, hint)


def in_automation() -> bool:
    return bool(os.environ.get("IRONSHIP_IN_AUTOMATION") or os.environ.get("CI"))
