"""``ironship server``: the local IronWorker-compatible engine, in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ironship import paths

DEFAULT_DATA = paths.engine_dir(Path("."))


def server(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free).")
    ] = 8080,
    data: Annotated[
        Path, typer.Option("--data", help="Data folder.", envvar="IRONSHIP_DATA")
    ] = DEFAULT_DATA,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Tasks at once.")] = 2,
) -> None:
    """Run the local IronWorker-compatible engine until Ctrl-C."""
    from ironship.engine.server import serve_forever

    serve_forever(data.resolve(), host=host, port=port, workers=workers)
