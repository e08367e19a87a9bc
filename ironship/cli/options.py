"""Options shared by several commands, the manifest they select, and the target they name.

Every command that connects takes the connection options, ``--env`` and ``--secrets-file``
among them (``with_connection``). It loads the manifest with ``manifest_of(file, conn)``
(the environment picked, its variables and secrets resolved) and connects with
``connected(manifest, conn)`` (the environment's ``target:`` between the flags and the
IRON_* variables; README "Environments, variables and secrets").
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from ironship.cli.outputs import folder_path, writable_dir
from ironship.cli.ui import err
from ironship.iron.credentials import TargetLayer
from ironship.iron.target import ConnectOptions, Target, open_target
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest
from ironship.paths import DEFAULT_MANIFEST
from ironship.secrets import Secret

FileOpt = Annotated[
    Path,
    typer.Option(
        "-f",
        "--file",
        metavar="FILE",
        help="The manifest.",
        envvar="IRONSHIP_FILE",
        show_default=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        metavar="local|iron",
        help="'iron' (hosted IronWorker) or 'local' (the local engine). Default: iron when "
        "credentials are found, else local.",
        envvar="IRONSHIP_TARGET",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="An iron.json file with credentials."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", metavar="TOKEN", help="IronWorker token (prefer IRON_TOKEN)."),
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project-id", metavar="ID", help="IronWorker project id.")
]
HostOpt = Annotated[str | None, typer.Option("--host", metavar="HOST", help="API host name.")]
PortOpt = Annotated[
    int | None, typer.Option("--port", metavar="PORT", min=1, max=65535, help="API port.")
]
SchemeOpt = Annotated[
    str | None, typer.Option("--scheme", metavar="https|http", help="API scheme.")
]

# Shell completion (README "Shell completion"): worker and environment names come from the
# manifest that -f names (else IRONSHIP_FILE, else ironship.yml), read as plain YAML. A
# completion must never fail or print, whatever the manifest holds: any problem completes
# nothing.
_COMPLETE_MAX_BYTES = 1_000_000


def _manifest_keys(ctx: typer.Context, section: str) -> list[str]:
    """The keys of the manifest's top-level ``section`` mapping; [] on any problem."""
    try:
        given = ctx.params.get("file") if ctx is not None else None
        path = Path(given or os.environ.get("IRONSHIP_FILE") or DEFAULT_MANIFEST)
        if not path.is_file() or path.stat().st_size > _COMPLETE_MAX_BYTES:
            return []
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = data.get(section) if isinstance(data, dict) else None
        return [str(k) for k in entries] if isinstance(entries, dict) else []
    except Exception:  # a completion never fails, whatever the file holds
        return []


def complete_worker(ctx: typer.Context, args: list[str], incomplete: str) -> list[str]:
    """Worker names of the manifest that start with what is typed."""
    return [n for n in _manifest_keys(ctx, "workers") if n.startswith(incomplete)]


def complete_env(ctx: typer.Context, args: list[str], incomplete: str) -> list[str]:
    """Environment names of the manifest that start with what is typed."""
    return [n for n in _manifest_keys(ctx, "environments") if n.startswith(incomplete)]


WorkerArg = Annotated[
    str,
    typer.Argument(help="The worker (its name in the manifest).", autocompletion=complete_worker),
]
EnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env",
        metavar="NAME",
        help="The environment of the manifest to use (its environments: section).",
        envvar="IRONSHIP_ENV",
        autocompletion=complete_env,
    ),
]
SecretsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--secrets-file",
        metavar="FILE",
        help="A YAML file of NAME: value pairs for ${secret:NAME} (instead of the "
        "environment's secrets_file). Never commit it.",
        envvar="IRONSHIP_SECRETS_FILE",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="Local engine folder (default .ironship/engine beside the manifest).",
        envvar="IRONSHIP_DATA",
    ),
]
# --parallelism bounds every concurrent step of a command: plan downloads changed workers'
# current zips (to name the changed files), apply also uploads, and the smoke tests of
# apply --smoke and test run that many at once. PlanParallelOpt says only what plan does.
ParallelOpt = Annotated[
    int,
    typer.Option(
        "--parallelism",
        metavar="N",
        min=1,
        max=64,
        help="How many at once: zip downloads to name changed files (plan), uploads (apply), "
        "smoke tests (--smoke, test).",
    ),
]
PlanParallelOpt = Annotated[
    int,
    typer.Option(
        "--parallelism",
        metavar="N",
        min=1,
        max=64,
        help="How many changed workers' current zips to download at once (to name the files "
        "that changed).",
    ),
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
        ("env", EnvOpt),
        ("secrets_file", SecretsFileOpt),
    )
)


def with_connection(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the connection options (--target, --config, --token, --project-id,
    --host, --port, --scheme, --data, --env, --secrets-file); it receives them as one
    ``conn: ConnectOptions``.

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
            token=None if shared["token"] is None else Secret(shared["token"]),
            project_id=shared["project_id"],
            host=shared["host"],
            port=shared["port"],
            scheme=shared["scheme"],
            data_dir=shared["data"],
            env=shared["env"],
            secrets_file=shared["secrets_file"],
        )
        command(*args, conn=conn, **kwargs)

    signature = own.replace(parameters=[*params, *_CONNECTION_PARAMS])
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    del wrapper.__wrapped__
    return wrapper


def manifest_of(file: Path, opts: ConnectOptions) -> Manifest:
    """The manifest as ``--env`` and ``--secrets-file`` resolve it."""
    return load_manifest(file, opts.env, secrets_file=opts.secrets_file)


def environment_layer(manifest: Manifest) -> TargetLayer | None:
    """The picked environment's ``target:`` as a credentials layer (None: no environment)."""
    environment = manifest.environment
    if environment is None:
        return None
    label = f"{manifest.path.name} environment {environment.name}"
    return TargetLayer(label, environment.target.values())


@contextmanager
def connected(
    where: Path | Manifest,
    opts: ConnectOptions,
    *,
    quiet: bool = False,
    create_engine: bool = True,
) -> Iterator[Target]:
    """Open the target and say in one line (on stderr) where we deploy.

    ``where`` is the manifest (its folder holds the local engine, its environment's
    ``target:`` applies) or, without one, the folder to look for an engine in. A ``--data``
    that names a file is reported before anything starts; the folder must be writable when
    this command may start an engine in it.
    """
    base = where.directory if isinstance(where, Manifest) else where
    if isinstance(where, Manifest):
        opts = replace(opts, environment=environment_layer(where))
    if opts.data_dir is not None:
        (writable_dir if create_engine else folder_path)(opts.data_dir, "--data")
    with open_target(base, opts, create_engine=create_engine) as target:
        if not quiet:
            err.print(f"[dim]target: {target.description}[/dim]")
        yield target
