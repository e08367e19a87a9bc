"""What every bench does to time a command: one fresh process, wall time from start to exit;
a command that fails ends the bench with its output (a figure of a failed run means nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def timed(
    cmd: list[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    expect: tuple[int, ...] = (0,),
) -> float:
    """Seconds ``cmd`` took; exits the bench when its status is not in ``expect``."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in expect:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def engine_env(url: str, token: str, project_id: str) -> dict[str, str]:
    """This process's environment, with no IRON_*/IRONSHIP_* setting of its own, pointed at
    one project of an engine; no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRON_", "IRONSHIP_"))}
    env.update(IRON_WORKER_CLOUD=url, IRON_TOKEN=token, IRON_PROJECT_ID=project_id, NO_COLOR="1")
    return env
