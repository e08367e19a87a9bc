"""Where a command deploys: the hosted IronWorker (credentials found) or the local engine.

Credentials are found as the official clients find them (docs/ironworker-api.md §7 (Client
configuration), ``iron/credentials.py``), with the ``target:`` of the environment picked with
``--env`` above the files and variables and below the flags. With none, ironship uses the engine in
``.ironship/engine/`` beside the manifest: an ``ironship server`` already running on that
folder if there is one, else the same engine started in-process for this one command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ironship import paths
from ironship.errors import IronshipError
from ironship.iron.client import Client
from ironship.iron.credentials import Credentials, TargetLayer, resolve
from ironship.secrets import Secret, digest_key

TargetKind = Literal["local", "iron"]


@dataclass(frozen=True)
class ConnectOptions:
    target: str | None = None  # "local", "iron" or None (auto)
    config_file: Path | None = None
    token: Secret | None = field(default=None, repr=False)  # --token, masked from the start
    project_id: str | None = None
    host: str | None = None
    scheme: str | None = None
    port: int | None = None
    data_dir: Path | None = None  # the local engine's folder
    env: str | None = None  # --env / IRONSHIP_ENV: the manifest's environment
    secrets_file: Path | None = None  # --secrets-file: what ${secret:…} reads first
    # The picked environment's target (filled from the manifest by cli.options.connected).
    environment: TargetLayer | None = None


@dataclass(frozen=True)
class Target:
    client: Client
    kind: TargetKind
    description: str  # one line, never holding the token
    in_process: bool = False  # a local engine that lives only as long as this command
    # Keys the digests of workers with secrets (``ironship.secrets.digest_key``): derived
    # from this target's token, so it is never sent anywhere nor stored on the server.
    secret_key: bytes = field(default=b"", repr=False)


def engine_dir(base: Path, opts: ConnectOptions) -> Path:
    return (opts.data_dir or paths.engine_dir(base)).resolve()


@contextmanager
def open_target(
    base: Path,
    opts: ConnectOptions,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
    create_engine: bool = True,
) -> Iterator[Target]:
    """Yield a connected Target; an in-process engine is stopped when the block ends.

    ``create_engine=False`` (commands that read existing tasks) refuses to start an engine on
    a folder that has none, rather than answering from a new, empty one.
    """
    creds = credentials(opts, env=env, cwd=cwd, home=home)
    if creds is None and opts.target == "iron":
        raise _no_credentials()
    if creds is not None:
        client = Client(creds.base_url, creds.project_id, creds.token)
        key = digest_key(creds.token)
        try:
            yield Target(client, "iron", f"IronWorker {creds.describe()}", secret_key=key)
        finally:
            client.close()
        return
    why = "--target local" if opts.target == "local" else "no IronWorker credentials"
    data_dir = engine_dir(base, opts)
    if not create_engine and not data_dir.is_dir():
        raise IronshipError(
            f"no local engine at {data_dir}",
            hint="run this beside your ironship.yml, or pass -f FILE or --data DIR "
            "(the engine lives in .ironship/engine beside the manifest)",
        )
    if create_engine:
        # .ironship/ carries a .gitignore of its own, so its state never shows in git status
        if opts.data_dir is None:
            paths.ensure_state_dir(base)
        else:
            paths.ensure_state_dir_of(data_dir)
    with local_engine(data_dir, why) as target:
        yield target


def credentials(
    opts: ConnectOptions,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> Credentials | None:
    """The credentials ``opts`` lead to (flags > environment target > files and IRON_*), or
    None for the local engine. Reads files and variables only; never connects."""
    if opts.target not in (None, "local", "iron"):
        raise IronshipError(
            f"unknown target {opts.target!r}", hint="use --target local or --target iron"
        )
    if opts.target == "local":
        return None
    return resolve(
        config_file=opts.config_file,
        token=opts.token,
        project_id=opts.project_id,
        host=opts.host,
        scheme=opts.scheme,
        port=opts.port,
        env=os.environ if env is None else env,
        cwd=cwd or Path.cwd(),
        home=home or Path.home(),
        environment=opts.environment,
    )


def _no_credentials() -> IronshipError:
    return IronshipError(
        "--target iron: no IronWorker credentials found",
        hint="set IRON_TOKEN and IRON_PROJECT_ID, write ~/.iron.json or ./iron.json, "
        "or pass --token and --project-id",
    )


def describe_target(base: Path, opts: ConnectOptions) -> tuple[TargetKind, str]:
    """Where ``opts`` would deploy, in one line, without connecting (``ironship config``)."""
    creds = credentials(opts)
    if creds is not None:
        return "iron", f"IronWorker {creds.describe()}"
    if opts.target == "iron":
        raise _no_credentials()
    return "local", f"local engine in {engine_dir(base, opts)}"


@contextmanager
def local_engine(data_dir: Path, why: str = "no IronWorker credentials") -> Iterator[Target]:
    from ironship.engine.server import EngineServer, project_credentials, running_server

    running = running_server(data_dir)
    if running is not None:
        url = str(running["url"])
        project_id, token = project_credentials(data_dir)
        client = Client(url, project_id, token, retries=1)
        described = f"local engine at {url} (ironship server, {data_dir})"
        try:
            yield Target(client, "local", described, secret_key=digest_key(token))
        finally:
            client.close()
        return
    server = EngineServer(data_dir)
    server.start()
    client = Client(server.url, server.project_id, server.token, retries=1)
    described = f"local engine in {data_dir} ({why})"
    try:
        yield Target(client, "local", described, True, digest_key(server.token))
    finally:
        client.close()
        server.stop()
