"""An engine in a subprocess (``ironship server``), for tests that measure it from outside:
its peak RSS from /proc/PID/status, its log (stderr) size, a lower file-descriptor limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine_helpers import Api

from ironship.engine.local import project_credentials

START_WAIT = 30.0

_LAUNCH = """
import resource, sys
nofile = int(sys.argv[1])
if nofile:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
from ironship.cli.app import main
sys.argv = ["ironship", "server", *sys.argv[2:]]
main()
"""


@dataclass(frozen=True)
class EngineProc:
    """A running engine subprocess: its pid, API, and the file its stderr goes to."""

    pid: int
    api: Api
    data_dir: Path
    log_file: Path

    def status_kb(self, field: str) -> int:
        """A ``kB`` field of /proc/PID/status, e.g. VmHWM (peak RSS) or VmRSS."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"{field} not in /proc/{self.pid}/status")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextmanager
def engine_process(tmp: Path, *args: str, nofile: int = 0) -> Iterator[EngineProc]:
    """``ironship server --port 0`` on 127.0.0.1 in ``tmp/data``; stopped (SIGTERM, then
    SIGKILL) at the end."""
    data = tmp / "data"
    log_file = tmp / "engine.log"
    cmd = [sys.executable, "-c", _LAUNCH, str(nofile), "--port", "0", "--data", str(data), *args]
    with log_file.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp)
    try:
        info = wait_started(proc, data)
        pid, token = project_credentials(data)
        yield EngineProc(proc.pid, Api(str(info["url"]), pid, token), data, log_file)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def wait_started(proc: subprocess.Popen[bytes], data: Path) -> dict[str, object]:
    """DATA/server.json of the engine ``proc`` once it is serving; fails if it exits first."""
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the engine exited with {proc.returncode}")
        try:
            info = json.loads((data / "server.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            time.sleep(0.05)
            continue
        if isinstance(info, dict) and info.get("pid") == proc.pid:
            return info
        time.sleep(0.05)
    raise AssertionError("the engine did not start")
