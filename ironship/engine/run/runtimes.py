"""The worker runtime contract: what a task's process is launched with.

docs/ironworker-api.md §6 (Worker runtime contract) describes it: the task directory (package
unpacked, payload and config files), the program per runtime (the runners table there, from
iron_worker_ng's ``__runner__.sh``), the arguments and the environment.
``runner`` owns the process itself.

On top of the contract, what IronWorker's runtimes gave workers: PHP's getPayload()/getConfig()
(``auto_prepend_file``), Node's ``require('node_helper')`` (NODE_PATH), Ruby's ``payload``,
``params``, ``config`` and ``iron_task_id`` (``ruby -r``, or RUBYOPT for the programs a runner
script starts), the interpreter a code's ``stack`` names (``stacks``) and, for runner scripts,
that interpreter and ``python`` on the task's PATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from ironship.engine.run import stacks
from ironship.engine.run.spec import RunSpec

SHIMS_DIR = Path(__file__).resolve().with_name("shims")
# Defines getArgs()/getPayload()/getConfig() like the classic IronWorker PHP runner did, so PHP
# workers written for the platform run unchanged (docs/ironworker-api.md §6 (Worker runtime
# contract), the runners).
PHP_PRELUDE = SHIMS_DIR / "ironworker_prelude.php"
# payload, params, config and iron_task_id for Ruby workers, as IronWorker's Ruby runner had.
RUBY_PRELUDE = SHIMS_DIR / "ironworker_prelude.rb"
# Holds node_helper.js (params, config, task_id), put on NODE_PATH for Node workers.
NODE_SHIMS = SHIMS_DIR / "node"

PAYLOAD_NAME = "__payload__"  # the names iron_worker_ng's own local runner uses
CONFIG_NAME = "__config__"
TOOLS_DIR = ".bin"  # under the work root: program links a task's PATH starts with

RUNTIMES = ("python", "php", "node", "ruby", "sh", "binary")

# Programs looked up on PATH, first found wins.
_PROGRAMS: dict[str, tuple[str, ...]] = {
    "python": ("python3",),
    "php": ("php",),
    "node": ("node", "nodejs"),
    "ruby": ("ruby",),
    "sh": ("sh",),
}
# Runtimes that start other programs (a __runner__.sh, a binary): their children get every
# language's helpers.
_LAUNCHERS = ("sh", "binary")

# available_runtimes() value for "binary": the worker file itself is executed, nothing to find.
BINARY_EXEC = "exec"


class RuntimeUnavailable(Exception):
    """The runtime is unknown or its program is not installed; ``str()`` is the task's msg."""


# Programs found on PATH are remembered this long (seconds): looking them up again for every
# task cost as much as unpacking its package. Only found ones: an install shows at once.
WHICH_TTL = 5.0
_found: dict[tuple[str, str], tuple[float, str]] = {}


def _which(name: str, path: str | None) -> str | None:
    # None means the PATH of now: the key holds what it was, so a changed PATH misses.
    key = (name, path if path is not None else os.environ.get("PATH", os.defpath))
    now = time.monotonic()
    hit = _found.get(key)
    if hit is not None and hit[0] > now and os.access(hit[1], os.X_OK):
        return hit[1]
    found = shutil.which(name, path=path)
    if found:
        _found[key] = (now + WHICH_TTL, found)
    return found


def find_program(runtime: str, path: str | None = None) -> str | None:
    """Absolute path of the program for ``runtime`` on ``path`` (default: the engine's PATH)."""
    if runtime == "binary":
        return BINARY_EXEC
    for name in _PROGRAMS.get(runtime, ()):
        found = _which(name, path)
        if found and runtime == "python" and Path(found).parent.name == "shims":
            # A version manager's shim (pyenv, asdf) would add its own variables to the
            # worker's environment; run the interpreter the engine itself is built on instead.
            return stacks.base_python() or found
        if found:
            return found
    if runtime == "python":
        # The engine itself runs on Python 3, so a python worker can always run.
        return stacks.base_python()
    return None


def available_runtimes(path: str | None = None) -> dict[str, str | None]:
    """Each supported runtime mapped to the program that runs it, or None when not installed."""
    return {runtime: find_program(runtime, path) for runtime in RUNTIMES}


def available(path: str | None = None) -> list[str]:
    """What ``GET /2/stacks`` lists, sorted: the runtimes installed here and the stacks."""
    runtimes = [name for name, program in available_runtimes(path).items() if program]
    return sorted(runtimes + stacks.available_stacks(path))


def _check_runtime(runtime: str) -> str:
    runtime = runtime.strip().lower()
    if runtime not in RUNTIMES:
        supported = ", ".join(RUNTIMES)
        raise RuntimeUnavailable(
            f"runtime {runtime!r} is not supported by this engine (supported: {supported})"
        )
    return runtime


def interpreter(
    runtime: str, stack: str | None, path: str | None = None
) -> stacks.Interpreter | None:
    """The interpreter ``stack`` asks for (None without a stack); RuntimeUnavailable when it
    is malformed, not installed, or another language than ``runtime``."""
    if not stack or not stack.strip():
        return None
    runtime = _check_runtime(runtime)
    try:
        found = stacks.resolve(stack, path)
    except stacks.StackUnavailable as exc:
        raise RuntimeUnavailable(str(exc)) from None
    if runtime not in _LAUNCHERS and found.language != runtime:
        raise RuntimeUnavailable(
            f"stack {stack!r} does not fit runtime {runtime!r}: use a {runtime} stack, or "
            "runtime sh with a runner script"
        )
    return found


def command(
    runtime: str,
    file_name: str,
    path: str | None = None,
    *,
    chosen: stacks.Interpreter | None = None,
    memory_mb: int = 0,
) -> list[str]:
    """The argv prefix that runs ``file_name`` (relative to the task dir) with ``runtime``,
    on the ``chosen`` interpreter (the code's stack) when given."""
    runtime = _check_runtime(runtime)
    program = chosen.program if chosen and runtime not in _LAUNCHERS else None
    program = program or find_program(runtime, path)
    if program is None:
        looked_for = " or ".join(repr(name) for name in _PROGRAMS[runtime])
        raise RuntimeUnavailable(
            f"runtime {runtime!r} is not installed on this engine (looked for {looked_for} on PATH)"
        )
    match runtime:
        case "binary":
            return ["./" + file_name]
        case "python":
            # -u: the log must show output as it is written, not when a buffer fills.
            return [program, "-u", file_name]
        case "php":
            limit = ["-d", f"memory_limit={memory_mb}M"] if memory_mb > 0 else []
            return [program, "-d", f"auto_prepend_file={PHP_PRELUDE}", *limit, file_name]
        case "ruby":
            return [program, "-r", str(RUBY_PRELUDE), file_name]
        case _:
            return [program, file_name]


def launch(spec: RunSpec, task_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The whole argv and environment of ``spec``'s process; RuntimeUnavailable when its
    runtime or stack cannot run here. Makes the program links its PATH starts with."""
    env = environment(spec, task_dir)
    path = env["PATH"]
    runtime = _check_runtime(spec.runtime)
    chosen = interpreter(runtime, spec.stack, path)
    argv = command(runtime, spec.file_name, path, chosen=chosen, memory_mb=spec.memory_mb)
    _helper_env(runtime, env, spec.env_vars)
    tools = tools_dir(spec.work_root, _tool_links(chosen, path))
    if tools is not None:
        env["PATH"] = os.pathsep.join((str(tools), path))
    return argv + arguments(spec, task_dir), env


def _helper_env(runtime: str, env: dict[str, str], given: Mapping[str, str]) -> None:
    """NODE_PATH (node_helper) and RUBYOPT (the Ruby prelude) for the programs a task starts;
    the code's own values come first, so a package's helper wins."""
    if runtime == "node" or runtime in _LAUNCHERS:
        env["NODE_PATH"] = os.pathsep.join(
            p for p in (given.get("NODE_PATH"), str(NODE_SHIMS)) if p
        )
    # RUBYOPT is split at whitespace: a prelude path with a space cannot go there.
    if runtime in _LAUNCHERS and not any(c.isspace() for c in str(RUBY_PRELUDE)):
        env["RUBYOPT"] = " ".join(p for p in (f"-r{RUBY_PRELUDE}", given.get("RUBYOPT")) if p)


def _tool_links(chosen: stacks.Interpreter | None, path: str) -> dict[str, str]:
    """Program name → interpreter: the stack's under each name a runner may use, and
    ``python`` (which IronWorker's runners call) when PATH has none."""
    links = {name: chosen.program for name in chosen.link_names()} if chosen else {}
    if "python" not in links and _which("python", path) is None:
        program = find_program("python", path)
        if program:
            links["python"] = program
    return links


def tools_dir(work_root: Path, links: Mapping[str, str]) -> Path | None:
    """A folder of symlinks ``name → program`` under ``work_root``, shared by every task that
    needs the same links (None when there are none)."""
    if not links:
        return None
    key = hashlib.sha256(repr(sorted(links.items())).encode()).hexdigest()[:16]
    folder = (work_root / TOOLS_DIR / key).absolute()
    if folder.is_dir():
        return folder
    partial = folder.with_name(f"{key}.{os.getpid()}.partial")
    remove_tree(partial)
    partial.mkdir(parents=True)
    for name, program in links.items():
        (partial / name).symlink_to(program)
    try:
        partial.rename(folder)
    except OSError:  # made meanwhile by another engine on the same work root
        remove_tree(partial)
    return folder


class SetupError(Exception):
    """The task directory could not be prepared; ``str()`` is the task's msg."""


def environment(spec: RunSpec, task_dir: Path) -> dict[str, str]:
    """PATH, HOME, LANG, the code's env_vars, then PAYLOAD_FILE, CONFIG_FILE, TASK_ID, TASK_DIR."""
    # Built from nothing: the engine's own variables (tokens, cloud credentials) never leak.
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": str(task_dir),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    env.update(spec.env_vars)
    env["PAYLOAD_FILE"] = str(task_dir / PAYLOAD_NAME)
    if spec.config is not None:
        env["CONFIG_FILE"] = str(task_dir / CONFIG_NAME)
    env["TASK_ID"] = spec.task_id
    env["TASK_DIR"] = str(task_dir)
    return env


def arguments(spec: RunSpec, task_dir: Path) -> list[str]:
    """``-payload FILE [-config FILE] -id ID -d DIR [-schedule_id S]``.

    The arguments of docs/ironworker-api.md §6 (Worker runtime contract).
    """
    args = ["-payload", str(task_dir / PAYLOAD_NAME)]
    if spec.config is not None:
        args += ["-config", str(task_dir / CONFIG_NAME)]
    args += ["-id", spec.task_id, "-d", str(task_dir)]
    if spec.schedule_id:
        args += ["-schedule_id", spec.schedule_id]
    return args


def prepare(spec: RunSpec, task_dir: Path) -> None:
    """Make a fresh ``task_dir`` holding the unpacked package, the payload and the config."""
    remove_tree(task_dir)  # left over from a run the engine did not see end
    try:
        task_dir.mkdir(parents=True)
        unpack(spec.zip_path, task_dir)
        # Lexically: the folder was just made from regular files and folders only.
        entry = _lexically_inside(os.path.abspath(task_dir), spec.file_name)
        if entry is None or not os.path.isfile(entry):
            raise SetupError(f"file_name {spec.file_name!r} is not in the code package")
        if spec.runtime.strip().lower() == "binary":
            os.chmod(entry, os.stat(entry).st_mode | 0o111)
        # errors="replace": a lone surrogate from a JSON escape must not stop the task.
        (task_dir / PAYLOAD_NAME).write_text(spec.payload, encoding="utf-8", errors="replace")
        if spec.config is not None:
            (task_dir / CONFIG_NAME).write_text(spec.config, encoding="utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile) as exc:
        raise SetupError(f"could not prepare the task directory: {exc}") from exc


# A small package is read once and kept, checked, in memory: each task's folder is then
# written from there, without parsing and inflating the zip again (about half of unpacking
# a one-file package). Packages are content-addressed blobs, never changed in place; the key
# holds the file's size and mtime all the same.
SMALL_PACKAGE = 1024 * 1024  # bytes unpacked, at most, for a package to be kept
KEPT_PACKAGES = 16 * 1024 * 1024  # bytes kept, at most, over all packages
_Entry = tuple[str, bytes | None, bool]  # (relative name, content or None: a folder, exec)
_kept: OrderedDict[tuple[str, int, int], tuple[_Entry, ...] | None] = OrderedDict()
_kept_bytes = 0
_kept_lock = threading.Lock()


def unpack(zip_path: Path, task_dir: Path) -> None:
    """Unpack into ``task_dir``, a folder just made (so nothing in it is a symlink, and none
    of the entries can be one: a name that stays inside it lexically stays inside it)."""
    # The engine validated the zip on upload; refusing escapes again costs nothing.
    root = os.path.abspath(task_dir)
    entries = _small_package(zip_path)
    if entries is not None:
        _write_entries(root, entries)
        return
    made = {root}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SetupError(f"the code package holds a symlink: {info.filename!r}")
            target = _lexically_inside(root, info.filename)
            if target is None:
                raise SetupError(f"the code package entry {info.filename!r} escapes its folder")
            if info.is_dir():
                _make_folder(target, made)
                continue
            _make_folder(os.path.dirname(target), made)
            with archive.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            if mode & 0o111:
                os.chmod(target, 0o755)


def _small_package(zip_path: Path) -> tuple[_Entry, ...] | None:
    """``zip_path``'s entries, checked, with their contents, when it unpacks to at most
    ``SMALL_PACKAGE`` bytes (kept for the next task); None for a larger one."""
    global _kept_bytes
    st = os.stat(zip_path)
    key = (os.fspath(zip_path), st.st_size, st.st_mtime_ns)
    with _kept_lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    entries: list[_Entry] = []
    size = 0
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
        small = sum(info.file_size for info in infos) <= SMALL_PACKAGE
        if small:
            for info in infos:
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise SetupError(f"the code package holds a symlink: {info.filename!r}")
                if _lexically_inside("/package", info.filename) is None:
                    raise SetupError(f"the code package entry {info.filename!r} escapes its folder")
                name = os.path.normpath(info.filename)
                if info.is_dir():
                    entries.append((name, None, False))
                    continue
                data = archive.read(info)
                size += len(data)
                entries.append((name, data, bool((info.external_attr >> 16) & 0o111)))
    kept = tuple(entries) if small else None
    with _kept_lock:
        _kept[key] = kept
        _kept_bytes += size
        while _kept_bytes > KEPT_PACKAGES and len(_kept) > 1:
            _, dropped = _kept.popitem(last=False)
            _kept_bytes -= sum(len(data or b"") for _, data, _ in dropped or ())
    return kept


def _make_folder(path: str, made: set[str]) -> None:
    """``os.makedirs`` once per folder of one unpacking (``made``: the folders made so far)."""
    if path not in made:
        os.makedirs(path, exist_ok=True)
        made.add(path)


def _write_entries(root: str, entries: tuple[_Entry, ...]) -> None:
    """Write a kept package's ``entries`` into the fresh folder ``root``."""
    made = {root}
    for name, data, executable in entries:
        target = root if name == "." else os.path.join(root, name)
        if data is None:
            _make_folder(target, made)
            continue
        _make_folder(os.path.dirname(target), made)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if executable:
                os.fchmod(fd, 0o755)
        finally:
            os.close(fd)


def _lexically_inside(root: str, name: str) -> str | None:
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or ".." in parts or "\0" in name:
        return None
    target = os.path.normpath(os.path.join(root, name))
    return target if target == root or target.startswith(root + os.sep) else None


def inside(root: Path, name: str) -> Path | None:
    """``root/name`` when it stays inside ``root``, else None."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or ".." in parts:
        return None
    target = (root / name).resolve()
    return target if target.is_relative_to(root.resolve()) else None


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything below it, whatever permissions the worker left."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        # A worker may have removed write permission from its own folders.
        _make_writable(path)
        shutil.rmtree(path, ignore_errors=True)


def _make_writable(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.chmod(0o700)
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                _make_writable(Path(entry.path))
