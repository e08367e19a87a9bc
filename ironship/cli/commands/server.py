"""``ironship server``: the local IronWorker-compatible engine, in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ironship import paths
from ironship.cli.outputs import writable_dir
from ironship.engine.run.memory import DEFAULT_TASK_MEMORY_MB  # re and resource only

# As in ironship/engine/http/conns.py (not imported here: it loads uvicorn).
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000

DEFAULT_DATA = paths.engine_dir(Path("."))


def server(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to bind.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port (0: any free).")
    ] = 8080,
    data: Annotated[
        Path,
        typer.Option("--data", metavar="DIR", help="Data folder.", envvar="IRONSHIP_DATA"),
    ] = DEFAULT_DATA,
    workers: Annotated[
        int, typer.Option("--workers", metavar="N", min=1, help="Tasks at once.")
    ] = 2,
    task_memory: Annotated[
        int,
        typer.Option(
            "--task-memory",
            metavar="MB",
            min=0,
            help="Memory cap of each task process in MB, like IronWorker's 512 MB (0: none).",
        ),
    ] = DEFAULT_TASK_MEMORY_MB,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            metavar="N",
            min=1,
            help="Open connections at most; past it, the oldest idle ones are closed.",
        ),
    ] = DEFAULT_MAX_CONNECTIONS,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            metavar="SECONDS",
            min=0.1,
            help="Close a connection whose request headers have not all come by then.",
        ),
    ] = DEFAULT_HEADER_TIMEOUT,
) -> None:
    """Run the local IronWorker-compatible engine until Ctrl-C."""
    from ironship.engine.server import serve_forever

    writable_dir(data, "--data")
    paths.ensure_state_dir_of(data)
    serve_forever(
        data.resolve(),
        host=host,
        port=port,
        workers=workers,
        task_memory=task_memory,
        header_timeout=header_timeout,
        max_connections=max_connections,
    )
