"""Options shared by several commands, and opening the target they name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship.cli.ui import err
from ironship.iron.target import ConnectOptions, Target, open_target

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
HostOpt = Annotated[str | None, typer.Option("--host", help="API host name.")]
PortOpt = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="API port.")]
SchemeOpt = Annotated[str | None, typer.Option("--scheme", help="API scheme: https or http.")]
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


NO_OPTIONS = ConnectOptions()  # placeholder default; with_connection always passes the real ones

_CONNECTION_PARAMS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
    for name, annotation in (
        ("target", TargetOpt),
        ("config", ConfigOpt),
        ("token", TokenOpt),
        ("project_id", ProjectOpt),
        ("host", HostOpt),
        ("port", PortOpt),
        ("scheme", SchemeOpt),
        ("data", DataOpt),
    )
)


def with_connection(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the connection options (--target, --config, --token, --project-id,
    --host, --data); it receives them as one ``conn: ConnectOptions`` argument.

    typer reads options from the function signature, so the wrapper advertises the command's
    own parameters (minus ``conn``) followed by the shared ones.
    """
    own = inspect.signature(command, eval_str=True)
    params = [p for p in own.parameters.values() if p.name != "conn"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        shared = {p.name: kwargs.pop(p.name, None) for p in _CONNECTION_PARAMS}
        conn = ConnectOptions(
            target=shared["target"],
            config_file=shared["config"],
            token=shared["token"],
            project_id=shared["project_id"],
            host=shared["host"],
            port=shared["port"],
            scheme=shared["scheme"],
            data_dir=shared["data"],
        )
        command(*args, conn=conn, **kwargs)

    signature = own.replace(parameters=[*params, *_CONNECTION_PARAMS])
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    del wrapper.__wrapped__
    return wrapper


@contextmanager
def connected(
    base: Path, opts: ConnectOptions, *, quiet: bool = False, create_engine: bool = True
) -> Iterator[Target]:
    """Open the target and say in one line (on stderr) where we deploy."""
    with open_target(base, opts, create_engine=create_engine) as target:
        if not quiet:
            err.print(f"[dim]target: {target.description}[/dim]")
        yield target
