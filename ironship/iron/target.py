"""Where a command deploys: the hosted IronWorker (credentials found) or the local engine.

Credentials are found as the official clients find them (docs/ironworker-api.md §7 (Client
configuration), ``iron/credentials.py``), with the ``target:`` of the environment picked with
``--env`` above the files and variables and below the flags. With none, ironship uses the engine in
``.ironship/engine/`` beside the manifest: an ``ironship server`` already running on that
folder if there is one, else the same engine started in-process for this one command.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from ironship import paths
from ironship.errors import IronshipError
from ironship.iron.credentials import Credentials, TargetLayer, resolve
from ironship.iron.types import Code, Schedule
from ironship.secrets import Secret, digest_key

if TYPE_CHECKING:
    from ironship.engine.server import EngineServer
    from ironship.engine.state.engine_state import EngineState
    from ironship.iron.client import Client

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
        from ironship.iron.client import Client

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
    """The engine on ``data_dir`` as a Target: an ``ironship server`` running on it, else the
    engine's own state read in this process, the engine started only when a call needs it
    (docs/architecture.md, "The local engine without a server")."""
    from ironship.engine.local import project_credentials, running_server

    running = running_server(data_dir)
    if running is not None:
        from ironship.iron.client import Client

        url = str(running["url"])
        project_id, token = project_credentials(data_dir)
        client = Client(url, project_id, token, retries=1)
        described = f"local engine at {url} (ironship server, {data_dir})"
        try:
            yield Target(client, "local", described, secret_key=digest_key(token))
        finally:
            client.close()
        return
    described = f"local engine in {data_dir} ({why})"
    local = LocalEngine(data_dir)
    try:
        key = digest_key(local.token)
        yield Target(cast("Client", local), "local", described, True, key)
    finally:
        local.close()


_T = TypeVar("_T")


class LocalEngine:
    """The local engine of one command, started only when a call needs it.

    What a plan asks (the code list, the schedules, the runtimes) is answered from the
    engine's own state layer (``ironship.engine.state``: the same queries, and the same wire
    shapes through ``engine.http.wire``, as its HTTP routes), so a plan with nothing to upload
    pays neither the HTTP server's imports nor its start and stop. Any other call (upload,
    download, read-back, tasks) starts the engine in this process, as before, and every call
    from then on, the lists included, goes over HTTP to it. Stands in for a ``Client``.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._server: EngineServer | None = None
        self._client: Client | None = None
        self._state: EngineState | None = None
        self.project_id: str
        self.token: str
        from ironship.engine.state.folders import Folders

        if not Folders(data_dir).db_file.is_file():
            server = self._start()  # a new engine: let it create its layout, project and token
            self.project_id, self.token = server.project_id, server.token
            return
        from ironship.engine.state.engine_state import EngineState

        self._state = EngineState.open(data_dir)
        self.project_id, self.token = self._state.projects.default()

    # -- answered from the state while the engine is not started ---------------------------

    def list_codes(self) -> list[Code]:
        from ironship.engine.http.wire import code_json

        def read(state: EngineState) -> list[Code]:
            pages = _pages(state.codes.list_page, self)
            return [Code.from_json(code_json(c, r)) for c, r in pages]

        codes = self._read(read)
        return self._started().list_codes() if codes is None else codes

    def list_schedules(self) -> list[Schedule]:
        from ironship.engine.http.wire import schedule_json

        def read(state: EngineState) -> list[Schedule]:
            rows = _pages(state.schedules.list_page, self)
            return [Schedule.from_json(schedule_json(s)) for s in rows]

        schedules = self._read(read)
        return self._started().list_schedules() if schedules is None else schedules

    def list_stacks(self) -> list[str]:
        with self._lock:
            started = self._client is not None
        if started:
            return self._started().list_stacks()
        from ironship.engine.run.runtimes import available

        return available()  # what GET /2/stacks answers (engine/http/routes_tasks.py)

    def list_runtimes(self) -> list[str]:
        """The runtimes of ``list_stacks`` without the stacks, whose versions cost a process
        each to probe: all a plan's runtime warnings need (deploy/planner.py)."""
        from ironship.engine.run.runtimes import available_runtimes

        return sorted(name for name, program in available_runtimes().items() if program)

    # -- everything else starts the engine -------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        from ironship.iron.client import Client

        if name.startswith("_") or not hasattr(Client, name):
            raise AttributeError(name)
        return getattr(self._started(), name)

    @property
    def host(self) -> str:
        return self._started().host

    @property
    def started(self) -> bool:
        """Whether the engine was started (an HTTP server runs in this process)."""
        return self._server is not None

    def _read(self, read: Callable[[EngineState], _T]) -> _T | None:
        """``read`` of the state while the engine is not started, else None. Under the lock:
        another thread starting the engine closes the state, never in the middle of a read."""
        with self._lock:
            if self._client is not None or self._state is None:
                return None
            return read(self._state)

    def _started(self) -> Client:
        with self._lock:
            if self._client is None:
                self._start()
            assert self._client is not None
            return self._client

    def _start(self) -> EngineServer:
        from ironship.engine.server import EngineServer
        from ironship.iron.client import Client

        if self._state is not None:
            self._state.close()
            self._state = None
        server = EngineServer(self.data_dir)
        server.start()
        self._server = server
        self._client = Client(server.url, server.project_id, server.token, retries=1)
        return server

    def close(self) -> None:
        with self._lock:
            if self._state is not None:
                self._state.close()
                self._state = None
            if self._client is not None:
                self._client.close()
            if self._server is not None:
                self._server.stop()
                self._server = None


_PAGE = 100


def _pages(list_page: Any, engine: LocalEngine) -> Iterator[Any]:
    """Every row of a paged repository list, as the HTTP routes page it."""
    from ironship.engine.state.model import Page

    number = 0
    while True:
        rows = list_page(engine.project_id, Page(number, _PAGE))
        yield from rows
        if len(rows) < _PAGE:
            return
        number += 1
