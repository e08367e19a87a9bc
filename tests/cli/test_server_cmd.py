"""`ironship server` as a real process, and commands that find it on its data folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import run_cli, write_tree

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(30)\n"


def start_server(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Start `ironship server`; return the process, its URL and the banner it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ironship", "server", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = ""
    while "Press Ctrl-C" not in banner:
        line = proc.stdout.readline()
        assert line, banner + (proc.stderr.read() if proc.stderr else "")
        banner += line
    url = banner.split("listening on ")[1].split()[0]
    return proc, url, banner


def test_server_prints_how_to_connect_and_commands_use_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands on the server's data folder use the running server; task and cancel work."""
    write_tree(tmp_path / "w", {"main.py": SLEEPER})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  sleeper:\n    root: w\n    entry: main.py\n"
    )
    data = tmp_path / ".ironship" / "engine"
    proc, url, banner = start_server(data)
    assert url.startswith("http://127.0.0.1:")
    # the server made .ironship/ beside the manifest, with the .gitignore that hides it from git
    assert (tmp_path / ".ironship" / ".gitignore").read_text().splitlines()[-1] == "*"
    try:
        res = run_cli(["apply", "-y"], capsys, monkeypatch, cwd=tmp_path)
        assert res.code == 0, res.err
        assert f"local engine at {url} (ironship server" in res.err
        queued = run_cli(["queue", "sleeper", "--json"], capsys, monkeypatch, cwd=tmp_path)
        assert queued.code == 0, queued.err
        task_id = json.loads(queued.out)["id"]  # a running server: queue does not wait
        for _ in range(200):
            shown = run_cli(["task", task_id, "--json", "--data", str(data)], capsys, monkeypatch)
            if json.loads(shown.out)["status"] == "running":
                break
            time.sleep(0.05)
        assert json.loads(shown.out)["status"] == "running"
        for _ in range(200):  # running means spawned; wait for the worker's first line
            if "started" in run_cli(["log", task_id, "--data", str(data)], capsys, monkeypatch).out:
                break
            time.sleep(0.05)
        cancelled = run_cli(["cancel", task_id, "--data", str(data)], capsys, monkeypatch)
        assert cancelled.code == 0, cancelled.err
        final = run_cli(["task", task_id, "--json", "--data", str(data)], capsys, monkeypatch)
        assert json.loads(final.out)["status"] == "cancelled"
        log = run_cli(["log", task_id, "--data", str(data)], capsys, monkeypatch)
        assert "started" in log.out
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "project id:" in banner and f"IRON_WORKER_CLOUD={url}" in banner
    assert not (data / "server.json").exists()
