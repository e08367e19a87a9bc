"""``ironship daemon``: commands run in it say and do exactly what they say and do without it,
whatever happened to the files in between; it is started, found and stopped as the README
says, and nobody else can use it.

Every command here is a real ``ironship`` process (``python -m ironship``), the daemon a real
background process, the engine the module's real one over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import Project, killed_at_end, write_tree

import ironship
from ironship.daemon import wire

MANIFEST = """\
    version: 1
    defaults:
      runtime: python
    workers:
      alpha:
        root: workers/alpha
        entry: main.py
        env: {GREETING: "${env:GREETING}"}
      beta:
        root: workers/beta
        entry: main.py
        exclude: ["*.log"]
      gamma:
        root: workers/gamma
        entry: main.py
"""

TREE = {
    "workers/alpha/main.py": "print('alpha')\n",
    "workers/alpha/lib/util.py": "X = 1\n",
    "workers/beta/main.py": "print('beta')\n",
    "workers/beta/debug.log": "noise\n",
    "workers/gamma/main.py": "print('gamma')\n",
    "workers/gamma/data/a.txt": "aaaa\n",
}


@dataclass
class Shell:
    """``ironship`` in ``folder`` as a user's shell runs it, with the project's target."""

    folder: Path
    env: dict[str, str]

    def run(
        self, *args: str, daemon: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra}
        if not daemon:
            env["IRONSHIP_NO_DAEMON"] = "1"
        return subprocess.run(
            [sys.executable, "-m", "ironship", *args],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def same(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run ``args`` through the daemon and without it: the same code, stdout and stderr."""
        through = self.run(*args, daemon=True, **extra)
        alone = self.run(*args, daemon=False, **extra)
        assert (through.returncode, through.stdout, through.stderr) == (
            alone.returncode,
            alone.stdout,
            alone.stderr,
        ), args
        return through

    def daemon_pid(self) -> int | None:
        record = self.folder / ".ironship" / "daemon" / wire.RECORD
        if not record.exists():
            return None
        pid: int = json.loads(record.read_text())["pid"]
        return pid


@pytest.fixture
def shell(project: Project, tmp_path: Path) -> Iterator[Shell]:
    write_tree(tmp_path, TREE)
    (tmp_path / "ironship.yml").write_text(textwrap.dedent(MANIFEST))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IRON", "CI"))}
    env = {**base, **project.env, "NO_COLOR": "1", "GREETING": "hello", "HOME": str(tmp_path)}
    here = Shell(tmp_path, env)
    assert here.run("apply", "-y", daemon=False).returncode == 0
    started = here.run("daemon", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield here
    finally:
        pid = here.daemon_pid()
        here.run("daemon", "stop")
        if pid is not None:
            with pytest.raises(ProcessLookupError):
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)


def status(shell: Shell) -> dict[str, object]:
    done = shell.run("daemon", "status", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_start_status_stop_as_the_readme_says(shell: Shell) -> None:
    state = status(shell)
    assert state["running"] is True and state["folder"] == str(shell.folder.resolve())
    assert state["roots"] == 3  # each worker's folder is watched from the start
    again = shell.run("daemon", "start")
    assert again.returncode == 0 and "already serves" in again.stdout
    assert shell.run("plan", "--detailed-exitcode").returncode == 0
    assert status(shell)["commands"] == 1
    text = shell.run("daemon", "status").stdout
    assert "watching 3 worker folder(s)" in text and "1 command(s) run" in text
    stopped = shell.run("daemon", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert status(shell)["running"] is False
    assert "no daemon serves" in shell.run("daemon", "stop").stdout
    # Without a daemon every command still runs, in its own process.
    assert shell.run("plan", "--detailed-exitcode").returncode == 0


def edit_keeping_size(path: Path) -> None:
    text = path.read_text()
    path.write_text(text.replace("a", "b", 1) if "a" in text else text.replace("1", "2", 1))


MUTATIONS: list[tuple[str, Callable[[Path], object]]] = [
    ("edit keeping the size", lambda d: edit_keeping_size(d / "workers/alpha/lib/util.py")),
    ("new nested folder", lambda d: write_tree(d, {"workers/beta/x/y/z.py": "Z = 1\n"})),
    ("edit in the new folder", lambda d: (d / "workers/beta/x/y/z.py").write_text("Z = 2\n")),
    ("exec bit", lambda d: (d / "workers/gamma/main.py").chmod(0o755)),
    ("delete", lambda d: (d / "workers/gamma/data/a.txt").unlink()),
    ("excluded file", lambda d: (d / "workers/beta/more.log").write_text("x\n")),
    ("rename a folder", lambda d: (d / "workers/alpha/lib").rename(d / "workers/alpha/lib2")),
    (
        "move a folder to another worker",
        lambda d: (d / "workers/beta/x").rename(d / "workers/gamma/x"),
    ),
    ("edit after the move", lambda d: (d / "workers/gamma/x/y/z.py").write_text("Z = 3\n")),
    ("ignore file", lambda d: (d / "workers/alpha/.ironshipignore").write_text("lib2/\n")),
    ("git churn", lambda d: write_tree(d, {"workers/alpha/.git/index": "git\n"})),
    ("symlink to a file", lambda d: (d / "workers/gamma/link.py").symlink_to("main.py")),
    ("folder copied in", lambda d: shutil.copytree(d / "workers/gamma/x", d / "workers/beta/c")),
    ("folder removed", lambda d: shutil.rmtree(d / "workers/gamma/x")),
]


def test_a_plan_in_the_daemon_sees_every_change_a_walk_sees(shell: Shell) -> None:
    """After each change, plan through the daemon and alone: the same answer every time."""
    shell.same("plan", "--detailed-exitcode")
    shell.same("plan", "--detailed-exitcode")  # the daemon now knows every file set
    for label, change in MUTATIONS:
        change(shell.folder)
        plan = shell.same("plan", "--detailed-exitcode")
        assert plan.returncode in (0, 2), (label, plan.stderr)
        shell.same("files", "gamma")
        if label in ("move a folder to another worker", "folder removed"):
            applied = shell.run("apply", "-y")  # through the daemon
            assert applied.returncode == 0, applied.stderr
            shell.same("plan", "--detailed-exitcode")
    assert status(shell)["workers_known"] == 3


def test_the_command_gets_the_clients_environment_and_exit_codes(shell: Shell) -> None:
    assert shell.same("plan", "--detailed-exitcode").returncode == 0
    changed = shell.same("plan", "--detailed-exitcode", GREETING="bonjour")
    assert changed.returncode == 2 and "alpha" in changed.stdout
    assert shell.env["IRON_TOKEN"] not in changed.stdout + changed.stderr
    (shell.folder / "ironship.yml").write_text(
        textwrap.dedent(MANIFEST).replace("entry: main.py", "entry: nope.py", 1)
    )
    bad = shell.same("validate")
    assert bad.returncode == 1 and "'nope.py' does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def at_the_prompt(
    shell: Shell, daemon: bool, job: bool = False
) -> tuple[subprocess.Popen[str], int, bytes]:
    """``apply`` on a terminal, waiting at its question: the process, the terminal's other
    end, and what it shows. ``job``: in a process group of its own, as a shell starts a job
    (one whose parent is in the same session, so that SIGTSTP stops it)."""
    main, terminal = pty.openpty()
    env = dict(shell.env) if daemon else {**shell.env, "IRONSHIP_NO_DAEMON": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironship", "apply"],
        cwd=shell.folder,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0 if job else None,
    )
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in screen and time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            screen += os.read(main, 4096)
    return proc, main, screen


def interrupted_at_the_prompt(shell: Shell, daemon: bool) -> tuple[int, str, str]:
    """``apply`` on a terminal, interrupted at its question: exit code, screen, stderr."""
    proc, main, screen = at_the_prompt(shell, daemon)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    with contextlib.suppress(OSError):
        screen += os.read(main, 4096)
    os.close(main)
    return proc.returncode, screen.decode(errors="replace"), err


def test_a_terminal_and_ctrl_c_reach_the_command(shell: Shell) -> None:
    """The command in the daemon asks on the client's terminal, and SIGINT to the client
    ends it there, exactly as without a daemon."""
    (shell.folder / "workers/gamma/main.py").write_text("print('changed')\n")
    code, screen, err = interrupted_at_the_prompt(shell, daemon=True)
    assert code == 130 and "interrupted" in err and "Traceback" not in err, (screen, err)
    assert "gamma" in screen and "[y/N]" in screen
    assert status(shell)["commands"] == 1  # it did run in the daemon
    assert interrupted_at_the_prompt(shell, daemon=False)[0] == 130
    assert shell.same("plan", "--detailed-exitcode").returncode == 2  # nothing was applied


def test_a_killed_client_takes_its_command_with_it(shell: Shell) -> None:
    """``kill -9`` of the client (a cancelled CI job) ends the command it had the daemon run,
    as it ends the command run alone; the daemon serves on."""
    (shell.folder / "workers/gamma/main.py").write_text("print('changed')\n")
    daemon = shell.daemon_pid()
    assert daemon is not None
    proc, main, screen = at_the_prompt(shell, daemon=True)
    try:
        assert b"[y/N]" in screen
        (command,) = _children(daemon)
        proc.kill()
        proc.communicate(timeout=30)
        # The terminal stays open: the command is not ended by its input closing.
        for _ in range(200):
            if command not in _children(daemon):
                break
            time.sleep(0.05)
        assert command not in _children(daemon)
        assert not Path(f"/proc/{command}").exists()  # ended and reaped
    finally:
        os.close(main)
    assert status(shell)["running"] is True
    assert shell.same("plan", "--detailed-exitcode").returncode == 2  # nothing was applied


def test_ctrl_z_stops_the_command_with_its_client(shell: Shell) -> None:
    """Ctrl-Z (SIGTSTP to the client) stops the command in the daemon too, as it stops the
    command run alone; SIGCONT (``fg``) continues both, and the command goes on."""
    (shell.folder / "workers/gamma/main.py").write_text("print('changed')\n")
    daemon = shell.daemon_pid()
    assert daemon is not None
    proc, main, _ = at_the_prompt(shell, daemon=True, job=True)
    try:
        with killed_at_end(proc):
            (command,) = _children(daemon)
            proc.send_signal(signal.SIGTSTP)
            assert _soon(lambda: _state(proc.pid) == _state(command) == "T")
            proc.send_signal(signal.SIGCONT)
            assert _soon(lambda: "T" not in (_state(proc.pid), _state(command)))
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    finally:
        os.close(main)
    assert proc.returncode == 130 and "interrupted" in err, err


def _soon(check: Callable[[], bool]) -> bool:
    for _ in range(200):
        if check():
            return True
        time.sleep(0.05)
    return check()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(c) for c in (task / "children").read_text().split())
    return found


def test_a_killed_daemon_leaves_nothing_in_the_way(shell: Shell) -> None:
    pid = shell.daemon_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            break
        time.sleep(0.05)
    assert (shell.folder / ".ironship/daemon/socket").exists()  # left behind
    plan = shell.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout
    assert status(shell)["running"] is False
    assert shell.run("daemon", "start").returncode == 0  # a new one takes over
    assert status(shell)["running"] is True


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_a_change_to_ironships_code_stops_the_daemon(shell: Shell) -> None:
    """A daemon must not run old code: the command that notices runs without it."""
    source = Path(ironship.__file__).with_name("exitcodes.py")
    before = source.stat()
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        plan = shell.run("plan", "--detailed-exitcode")
        assert plan.returncode == 0 and "No changes" in plan.stdout
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    for _ in range(100):
        if status(shell)["running"] is False:
            break
        time.sleep(0.05)
    assert status(shell)["running"] is False


AS_NOBODY = """
import os, sys
from pathlib import Path
from ironship.daemon import wire
os.setgid(65534); os.setuid(65534)
try:
    sock = wire.connect(Path(sys.argv[1]), timeout=5)
except PermissionError:
    sys.exit(13)
with sock:
    try:
        wire.send(sock, {"op": "status"})
        wire.receive(sock)
    except (wire.WireError, OSError):
        sys.exit(7)  # closed without a word
"""


def as_nobody(socket_path: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(socket_path)], capture_output=True, timeout=30
    )
    assert done.returncode in (7, 13), done.stderr
    return done.returncode


def test_another_user_cannot_use_it(shell: Shell) -> None:
    """Its folder is its user's alone; and where another user can reach the socket, a
    connection from another uid is closed unanswered."""
    if os.getuid() != 0:
        pytest.skip("switching to another user needs root")
    home = shell.folder / ".ironship" / "daemon"
    assert home.stat().st_mode & 0o777 == 0o700
    open_folder = Path(tempfile.mkdtemp(prefix="ironship-daemon-", dir="/tmp"))
    other = Shell(open_folder, shell.env)
    try:
        open_folder.chmod(0o755)
        write_tree(open_folder, {"w/main.py": "print(1)\n"})
        (open_folder / "ironship.yml").write_text(
            "version: 1\nworkers:\n  w: {root: w, entry: main.py}\n"
        )
        assert other.run("daemon", "start").returncode == 0
        socket_path = open_folder / ".ironship" / "daemon" / "socket"
        assert as_nobody(socket_path) == 13  # its folder: nobody else may enter
        socket_path.parent.chmod(0o711)
        socket_path.chmod(0o777)
        assert as_nobody(socket_path) == 7  # in, but not answered
        assert status(other)["running"] is True
    finally:
        other.run("daemon", "stop")
        shutil.rmtree(open_folder, ignore_errors=True)


def test_a_daemon_whose_folder_is_removed_stops(shell: Shell) -> None:
    pid = shell.daemon_pid()
    assert pid is not None
    shutil.rmtree(shell.folder / ".ironship" / "daemon")
    for _ in range(200):
        if _state(pid) in ("gone", "Z"):
            break
        time.sleep(0.05)
    assert _state(pid) in ("gone", "Z")


def test_a_command_of_another_ironship_install_is_declined(shell: Shell) -> None:
    """A daemon runs only its own ironship's commands; another install runs its own."""
    socket_path = shell.folder / ".ironship" / "daemon" / "socket"
    request = {"op": "run", "code": "/elsewhere/ironship", "args": ["plan"], "cwd": "/"}
    with wire.connect(socket_path, timeout=5) as sock, pytest.raises((wire.WireError, OSError)):
        wire.send(sock, {**request, "env": {}, "umask": 0o22}, (0, 1, 2))
        wire.receive(sock)  # closed unanswered (maybe before the request was all sent)
    assert status(shell)["commands"] == 0
