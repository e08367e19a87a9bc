"""The daemon: one process per manifest folder that stays loaded and watches the workers.

Started by ``ironship daemon start`` (cli/commands/daemon.py) as ``python -m
ironship.daemon.server FOLDER``, in a session of its own, with a minimal environment; it
listens on ``.ironship/daemon/socket`` (a folder only its user can enter; a connection from
another user is closed unread) and writes ``.ironship/daemon/daemon.json`` and ``log``.

Each command a client sends (daemon/client.py) runs in a child forked from the daemon:
already loaded (no interpreter start, no imports, typer's commands built), in the client's
folder, environment and umask, writing to the client's own standard streams. Before the
fork the daemon catches up with the file system (``Roots.sync``), so the child sees every
change made before the command was typed. In the child, ``select_package`` asks the
daemon's file sets first (packaging/resident.py): a worker whose root had no event since its
file set was computed is not walked again. When the command is done, the child sends its
exit code to the client, then the file sets it had to compute and the modules it loaded
to the daemon, which keeps the former and imports the latter for the next command. A client
that goes away before its command is done (killed, not interrupted: Ctrl-C and other
signals it passes on) takes the command with it: SIGTERM to the child's process group, and
SIGKILL ``KILL_GRACE`` seconds later.

The daemon holds no secret of its own: a command's environment reaches only its child. It
exits on ``ironship daemon stop``, SIGTERM, or when ironship's own code changes (a stale
daemon must not run old code: the command that notices runs without it).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import importlib
import io
import json
import os
import pickle
import queue
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ironship import __version__, paths
from ironship.daemon import wire
from ironship.daemon.watch import Roots
from ironship.deploy import settings
from ironship.packaging import resident
from ironship.packaging.fileset import FileSet
from ironship.packaging.resident import WorkerKey

LOCK = "lock"  # flock()ed by the one daemon of a folder
IDLE_STEP = 0.2  # seconds between looks at what children reported, when idle
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a command whose client is gone
_DONE = b"D"  # a child's first byte on its results pipe: its command is done
_PEERCRED = struct.Struct("3i")  # pid, uid, gid (SO_PEERCRED)
_CODE = Path(__file__).resolve().parents[1]  # the ironship package
# Not loaded ahead for later commands: the engine's HTTP server and the asyncio stack under
# it keep per-process state that a forked child must build for itself.
_NOT_PRELOADED = (
    "_asyncio",  # loaded before a fork, asyncio.current_task() is None in the child's loops
    "asyncio",
    "anyio",
    "sniffio",
    "uvicorn",
    "starlette",
    "h11",
    "httptools",
    "websockets",
    "multipart",
    "python_multipart",
    "ironship.engine.http",
    "ironship.engine.server",
)


class Store:
    """The file sets the daemon knows: key -> (generation computed at, file set)."""

    def __init__(self) -> None:
        self.sets: dict[WorkerKey, tuple[int, FileSet]] = {}


class Snapshot:
    """What a child knows: the daemon's file sets and roots as they were at the fork."""

    def __init__(self, store: Store, roots: Roots, generation: int | None) -> None:
        self.store, self.roots, self.generation = store, roots, generation
        self.new: list[tuple[WorkerKey, int, FileSet]] = []

    def fileset(self, key: WorkerKey) -> FileSet | None:
        found = self.store.sets.get(key)
        if found is None or self.generation is None:
            return None
        computed, fileset = found
        return fileset if self.roots.clean_since(key[1], computed) else None

    def computed(self, key: WorkerKey, fileset: FileSet) -> None:
        if self.generation is not None:
            self.new.append((key, self.generation, fileset))


class Daemon:
    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.home = paths.daemon_dir(self.folder)
        self.store = Store()
        self.roots: Roots | None = None
        self.listener: socket.socket | None = None
        self.started = time.time()
        self.served = 0
        self.code = _code_stamp()
        self.stopping = False
        self.lock_file: io.TextIOWrapper | None = None
        # What children reported, for the main thread to take in between commands: a module
        # imported by another thread while the main thread forks would leave that module's
        # import lock held in the child for ever.
        self.learned: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    # --- life ----------------------------------------------------------------------------
    def serve(self) -> None:
        paths.ensure_state_dir(self.folder)
        self.home.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.home, 0o700)
        os.chdir(self.home)  # binds by name (socket paths are short) and holds no other folder
        self.lock_file = open(LOCK, "a")  # noqa: SIM115 - held for the daemon's whole life
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"another daemon already serves {self.folder}", flush=True)
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(wire.SOCKET)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(wire.SOCKET)
        self.listener.listen(16)
        self.roots = Roots(self.home)
        threading.Thread(target=self.roots.run, name="ironship-watch", daemon=True).start()
        self._warm()
        self._record()
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._accept()
        finally:
            self._cleanup()

    def _stop(self) -> None:
        self.stopping = True
        if self.listener is not None:
            self.listener.close()

    def _cleanup(self) -> None:
        for name in (wire.SOCKET, wire.RECORD):
            with contextlib.suppress(OSError):
                os.unlink(self.home / name)
        if self.roots is not None:
            self.roots.stop()

    def _record(self) -> None:
        record = {"pid": os.getpid(), "folder": str(self.folder), "version": __version__}
        partial = self.home / f"{wire.RECORD}.tmp"
        partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(partial, self.home / wire.RECORD)

    def _warm(self) -> None:
        """Load what the forwarded commands load, and watch the manifest's workers."""
        from ironship.cli import root
        from ironship.cli.app import _COMMANDS
        from ironship.daemon.client import FORWARDED

        root.build_commands(_COMMANDS, FORWARDED)
        for module in ("ironship.deploy.planner", "ironship.iron.target"):
            with contextlib.suppress(Exception):
                importlib.import_module(module)
        manifest = self.folder / paths.DEFAULT_MANIFEST
        for path in _roots_of(manifest):
            assert self.roots is not None
            self.roots.add(path)

    # --- requests ------------------------------------------------------------------------
    def _accept(self) -> None:
        assert self.listener is not None
        self.listener.settimeout(IDLE_STEP)
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                self._take_in()
                if not os.path.exists(wire.SOCKET):
                    break  # its folder was removed: nobody can reach it any more
                continue
            except OSError:
                break  # closed by stop
            self._take_in()
            try:
                conn.settimeout(None)
                self._one(conn)
            except Exception:  # one bad request must not end the daemon
                traceback.print_exc()
                conn.close()

    def _one(self, conn: socket.socket) -> None:
        _, uid, _ = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        if uid != os.getuid():
            conn.close()  # not ours: not a word
            return
        conn.settimeout(5)
        try:
            message, fds = wire.receive(conn, max_fds=3)
        except (OSError, wire.WireError):
            conn.close()
            return
        op = message.get("op")
        if op == "run" and len(fds) == 3:
            self._run(conn, message, fds)
            return
        for fd in fds:
            os.close(fd)
        if op == "status":
            wire.send(conn, self.status())
        elif op == "stop":
            wire.send(conn, {"op": "stopping", "pid": os.getpid()})
            self._stop()
        conn.close()

    def status(self) -> dict[str, Any]:
        assert self.roots is not None
        return {
            "op": "status",
            "pid": os.getpid(),
            "folder": str(self.folder),
            "version": __version__,
            "uptime": round(time.time() - self.started, 1),
            "commands": self.served,
            "workers_known": len(self.store.sets),
            **self.roots.status(),
        }

    def _run(self, conn: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
        assert self.roots is not None and self.listener is not None
        if message.get("code") != str(_CODE):
            # another ironship install: it runs its commands itself
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        if _code_stamp() != self.code:
            # ironship changed under us: say nothing (the client runs the command itself)
            for fd in fds:
                os.close(fd)
            conn.close()
            print("ironship's code changed: the daemon stops", flush=True)
            self._stop()
            return
        generation = self.roots.sync()
        results, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        # What the daemon holds (file sets, modules) is the child's too: kept out of the
        # child's garbage collections, and its pages shared rather than touched.
        gc.freeze()
        with self.roots.lock:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child, measured by the tests through it
                self.roots.lock.release()
                os.close(results)
                _child(self, conn, message, fds, write_end, generation)
        os.close(write_end)
        for fd in fds:
            os.close(fd)
        self.served += 1
        try:
            wire.send(conn, {"op": "started", "pid": pid})
        except OSError:
            os.kill(pid, signal.SIGTERM)
        threading.Thread(
            target=self._finish, args=(conn, pid, results), name=f"ironship-child-{pid}"
        ).start()

    def _finish(self, conn: socket.socket, pid: int, results: int) -> None:
        """Wait for one child; keep what it learned; tell the client if the child could not."""
        data = _watch_child(conn, pid, results)
        _, status = os.waitpid(pid, 0)
        if status != 0:  # it did not get to say its exit code
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else 1
            with contextlib.suppress(OSError):
                wire.send(conn, {"op": "exit", "code": code})
        conn.close()
        if data:
            self.learned.put(data)

    def _take_in(self) -> None:
        """Keep what finished children learned (on the main thread, between forks)."""
        while not self.learned.empty():
            with contextlib.suppress(Exception):
                self._learn(pickle.loads(self.learned.get()))

    def _learn(self, learned: dict[str, Any]) -> None:
        assert self.roots is not None
        fresh: list[tuple[WorkerKey, int, FileSet]] = learned.get("filesets", [])
        with self.roots.lock:
            for key, generation, fileset in fresh:
                old = self.store.sets.get(key)
                settings.keep_encoded(fileset.files, old[1].files if old else None)
                self.store.sets[key] = (generation, fileset)
            unwatched = {key[1] for key, _, _ in fresh} - self.roots.watched
        for root in sorted(unwatched):
            self.roots.add(root)  # stamps it: the set just kept is trusted from the next one
        for module in learned.get("modules", []):
            if not module.startswith(_NOT_PRELOADED):
                with contextlib.suppress(Exception):
                    importlib.import_module(module)


def _child(
    daemon: Daemon,
    conn: socket.socket,
    message: dict[str, Any],
    fds: list[int],
    results: int,
    generation: int | None,
) -> None:
    """Run one command as the client's own process would, then report and exit."""
    code = 1
    snapshot = Snapshot(daemon.store, daemon.roots, generation)  # type: ignore[arg-type]
    before = set(sys.modules)
    try:
        _become_client(daemon, message, fds)
        resident.install(snapshot)
        code = _main(list(message["args"]))
    except BaseException:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"internal error in the ironship daemon:\n{traceback.format_exc()}")
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    pipe = os.fdopen(results, "wb", buffering=0)
    with contextlib.suppress(OSError):
        pipe.write(_DONE)  # before the client hears the end: its going away is no kill now
    with contextlib.suppress(OSError):
        wire.send(conn, {"op": "exit", "code": code})
        conn.close()
    with contextlib.suppress(Exception):
        loaded = sorted(m for m in set(sys.modules) - before if not m.startswith("__"))
        pipe.write(pickle.dumps({"filesets": snapshot.new, "modules": loaded}, protocol=5))
    with contextlib.suppress(OSError):
        pipe.close()
    os._exit(0)


def _watch_child(conn: socket.socket, pid: int, results: int) -> bytes:
    """Read what the child reports through ``results`` until it exits: what it learned, or
    b"" when it did not get to say its command was done. Meanwhile watch the client: one
    that goes away before the command is done (killed: a cancelled CI job, a closed
    terminal) stops it as it would stop the command run alone, SIGTERM to its process
    group and SIGKILL ``KILL_GRACE`` seconds later."""
    got = bytearray()
    kill_at: float | None = None
    with os.fdopen(results, "rb", buffering=0) as pipe, selectors.DefaultSelector() as sel:
        sel.register(pipe, selectors.EVENT_READ)
        sel.register(conn, selectors.EVENT_READ)
        while True:
            timeout = None if kill_at is None else max(0.0, kill_at - time.monotonic())
            events = sel.select(timeout)
            if not events and kill_at is not None:
                wire.signal_command(pid, signal.SIGKILL)
                kill_at = None
            for key, _ in events:
                if key.fileobj is pipe:
                    chunk = pipe.read(1 << 16)
                    if not chunk:
                        return bytes(got[1:]) if got[:1] == _DONE else b""
                    got += chunk
                    continue
                sel.unregister(conn)  # the client never writes again: its end, or noise
                if got[:1] == _DONE or not _client_gone(conn):
                    continue
                # What the child wrote before the client went is in the pipe already.
                while not got[:1] and _readable(pipe) and (chunk := pipe.read(1 << 16)):
                    got += chunk
                if got[:1] != _DONE:
                    wire.signal_command(pid, signal.SIGTERM)
                    kill_at = time.monotonic() + KILL_GRACE


def _client_gone(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def _readable(pipe: io.RawIOBase) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(pipe, selectors.EVENT_READ)
        return bool(sel.select(0))


def _become_client(daemon: Daemon, message: dict[str, Any], fds: list[int]) -> None:
    """This child takes the client's streams, folder, umask, environment and signals."""
    assert daemon.listener is not None and daemon.roots is not None
    assert daemon.lock_file is not None
    daemon.listener.close()
    daemon.roots.inotify.close()
    daemon.lock_file.close()  # the one-daemon lock is the daemon's, not a command's
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    os.chdir(message["cwd"])
    os.umask(int(message["umask"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in message["env"].items()})
    sys.argv = ["ironship", *message["args"]]
    sys.stdin = _text(0, "r")
    sys.stdout = _text(1, "w")
    sys.stderr = _text(2, "w", errors="backslashreplace")
    from ironship.cli import ui

    ui.reset_consoles()


def _text(fd: int, mode: str, errors: str = "strict") -> io.TextIOWrapper:
    """A standard stream on ``fd`` as a new interpreter would open it (line-buffered on a
    terminal)."""
    raw = io.FileIO(fd, mode, closefd=False)
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    tty = os.isatty(fd)
    return io.TextIOWrapper(
        buffered, encoding="utf-8", errors=errors, line_buffering=tty, write_through=not tty
    )


def _main(args: list[str]) -> int:
    from ironship.cli.app import main

    try:
        main(args)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        sys.stderr.write(f"{exc.code}\n")
        return 1
    return 0


def _roots_of(manifest: Path) -> list[str]:
    """The real folders of the workers the manifest names, as written (a root that needs
    ``${…}`` or an environment is learned from the first command that plans it)."""
    try:
        import yaml

        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return []
    sections = [data] if isinstance(data, dict) else []
    environments = sections[0].get("environments") if sections else None
    if isinstance(environments, dict):
        sections += [e for e in environments.values() if isinstance(e, dict)]
    found = set()
    for section in sections:
        defaults = section.get("defaults")
        default = defaults.get("root", ".") if isinstance(defaults, dict) else "."
        workers = section.get("workers")
        for worker in workers.values() if isinstance(workers, dict) else ():
            root = worker.get("root", default) if isinstance(worker, dict) else default
            if isinstance(root, str) and "${" not in root:
                folder = (manifest.parent / root).resolve()
                if folder.is_dir() and folder.is_relative_to(manifest.parent.resolve()):
                    found.add(str(folder))
    return sorted(found)


def _code_stamp() -> tuple[tuple[str, int], ...]:
    """Every .py file of ironship with its mtime: the code this daemon runs."""
    found = []
    for folder, dirs, files in os.walk(_CODE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    found.append((path, os.stat(path).st_mtime_ns))
    return tuple(sorted(found))


def main() -> None:
    """``python -m ironship.daemon.server FOLDER``."""
    folder = Path(sys.argv[1])
    Daemon(folder).serve()


if __name__ == "__main__":
    main()
