"""Starting the engine: in-process for one command (``EngineServer``) or as ``ironship server``.

This module wires the layers together: it opens the ``EngineState``, builds the
``Dispatcher`` over it and the http app over both (docs/architecture.md, Packages and what
they may import). One engine per data folder at a time (an flock on DATA/engine.lock); while
it runs, DATA/server.json says where, so another ironship command can use that engine instead
of starting a second one on the same data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

import uvicorn

from ironship import __version__
from ironship.engine.http.app import create_app
from ironship.engine.http.conns import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    guarded_protocol,
    limit_log_floods,
)
from ironship.engine.http.context import Engine
from ironship.engine.local import SERVER_JSON, running_server
from ironship.engine.run import runner, sandbox
from ironship.engine.run.dispatch import Dispatcher
from ironship.engine.run.memory import DEFAULT_TASK_MEMORY_MB
from ironship.engine.state.engine_state import EngineState
from ironship.engine.zipcheck import Limits
from ironship.errors import IronshipError

LOCK_FILE = "engine.lock"


# Descriptors kept free of connections: the database, logs, blobs, task pipes.
FD_RESERVE = 64


def connection_cap(wanted: int) -> int:
    """``wanted`` connections, lowered to fit the descriptors this process may open (after
    raising its soft limit to the hard one), so a connection flood never makes accept fail."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, (soft - FD_RESERVE) // 2))


class EngineServer:
    """The engine on ``host:port`` (port 0: any free port) with data in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        poll_interval: float = 0.05,
        limits: Limits | None = None,
        task_memory: int = DEFAULT_TASK_MEMORY_MB,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        task_host: bool = True,
    ) -> None:
        """``task_memory``: MB each task process may use (0: no cap); see ``run/memory.py``.
        ``header_timeout`` and ``max_connections``: see ``http/conns.py``. ``task_host``
        False starts tasks from this process instead of the task host (``run/host.py``):
        only for measuring what the host costs (bench/engine_bench.py --in-process)."""
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.workers = workers
        self.poll_interval = poll_interval
        self.limits = limits or Limits()
        self.task_memory = max(0, task_memory)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.task_host = task_host
        self.url = ""
        self.project_id = ""
        self.token = ""
        self._state: EngineState | None = None
        self._dispatcher: Dispatcher | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock: IO[str] | None = None

    def start(self) -> None:
        """Open the state, recover, serve HTTP in a thread and start dispatching."""
        # Only the engine's user may look in: tokens and every project's code live here.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        self._take_lock()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        # No process of this user (a task run without a sandbox) may read this one's
        # environment or memory: it is about to hold tokens.
        self.undumpable = sandbox.make_undumpable()
        # Probe the task sandbox (it runs bwrap once) before any token is read.
        self.sandbox = sandbox.probe()
        state = self._state = EngineState.open(self.data_dir)
        state.recover()
        self.project_id, self.token = state.projects.default()
        dispatcher = self._dispatcher = Dispatcher(
            state,
            self.workers,
            self.poll_interval,
            start=None if self.task_host else runner.start,
            task_memory=self.task_memory,
            sandboxed=self.sandbox.available,
        )
        app = create_app(Engine(state, dispatcher, self.limits, self._info(dispatcher)))
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on accepted sockets whose
        # proto says TCP, and without it every keep-alive response waits ~40 ms (Nagle
        # against the client's delayed ACK: headers and body go out as two writes).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise IronshipError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}",
                "choose another --port, or 0 for any free port",
            ) from None
        port = sock.getsockname()[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{port}"
        limit_log_floods()
        protocol = guarded_protocol(self.header_timeout, connection_cap(self.max_connections))
        config = uvicorn.Config(
            app,
            http=protocol,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="ironship-http", daemon=True
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise IronshipError(f"the engine's HTTP server on {self.url} failed to start")
            time.sleep(0.005)
        try:
            dispatcher.start()
        except OSError as exc:
            raise IronshipError(str(exc), "check that the engine's Python can start") from None
        info = {"url": self.url, "pid": os.getpid(), "project_id": self.project_id}
        tmp = self.data_dir / (SERVER_JSON + ".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.data_dir / SERVER_JSON)

    def _info(self, dispatcher: Dispatcher) -> dict[str, Any]:
        """What GET /2/engine says (docs/ironworker-api.md §5, the ironship extension)."""
        box = self.sandbox
        return {
            "engine": "ironship",
            "version": __version__,
            "sandbox": {
                "kind": box.kind,
                "reason": box.reason or None,
                "description": box.describe(),
            },
            "containment": {
                "task_host": self.task_host,  # tasks start from a process holding no secret
                "engine_non_dumpable": self.undumpable,
                "tasks_without_capabilities": not box.available and os.geteuid() == 0,
            },
            "workers": self.workers,
            "limits": {
                **dispatcher.task_limits(),
                "package_bytes": self.limits.max_zip_bytes,
                "package_unpacked_bytes": self.limits.max_unpacked_bytes,
                "package_entries": self.limits.max_entries,
                "connections": connection_cap(self.max_connections),
                "header_timeout_s": self.header_timeout,
            },
        }

    @property
    def task_host_pid(self) -> int | None:
        """The pid of the process that starts this engine's tasks (see ``run/host.py``)."""
        return self._dispatcher.host_pid if self._dispatcher is not None else None

    def _take_lock(self) -> None:
        fh = open(self.data_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            other = running_server(self.data_dir)
            where = f" at {other['url']}" if other else ""
            raise IronshipError(
                f"an engine is already running on {self.data_dir}{where}",
                "use that engine, or stop it first",
            ) from None
        self._lock = fh

    def stop(self) -> None:
        """Stop HTTP, kill running tasks (left 'running' like a crash), close the state."""
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / SERVER_JSON).unlink()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._dispatcher is not None:
            self._dispatcher.stop()
        if self._state is not None:
            self._state.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
        self._server = self._thread = self._dispatcher = self._state = self._lock = None

    def __enter__(self) -> EngineServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 2,
    task_memory: int = DEFAULT_TASK_MEMORY_MB,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> None:
    """``ironship server``: run the engine until Ctrl-C or SIGTERM, printing how to use it."""
    engine = EngineServer(
        data_dir,
        host=host,
        port=port,
        workers=workers,
        task_memory=task_memory,
        header_timeout=header_timeout,
        max_connections=max_connections,
    )
    engine.start()
    done = threading.Event()

    def _term(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        print(f"ironship engine listening on {engine.url}  (data: {data_dir})")
        cap = f"{engine.task_memory} MB per process" if engine.task_memory else "none"
        print(f"  task memory cap: {cap}")
        print(f"  project id: {engine.project_id}")
        print(f"  token:      {engine.token}")
        # After the id and token: scripts read those from the lines above.
        conns = connection_cap(engine.max_connections)
        print(f"  connections: at most {conns}, headers within {engine.header_timeout:g} s")
        print(f"  sandbox:    {engine.sandbox.describe()}")
        print("Point the official clients at it with:")
        print(f"  export IRON_WORKER_CLOUD={engine.url}")
        print(f"  export IRON_PROJECT_ID={engine.project_id} IRON_TOKEN={engine.token}")
        print(
            "or an iron.json: "
            + json.dumps(
                {
                    "project_id": engine.project_id,
                    "token": engine.token,
                    "host": engine.url.split("://", 1)[1].rsplit(":", 1)[0],
                    "port": int(engine.url.rsplit(":", 1)[1]),
                    "protocol": "http",
                    "scheme": "http",
                }
            )
        )
        print("Press Ctrl-C to stop.", flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.stop()
