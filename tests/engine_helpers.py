"""Helpers for engine tests: a thin HTTP wrapper, zip builders, a scriptable worker, and specs
for running one task through the runner directly."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from ironship.engine.run import runner
from ironship.engine.run.spec import RunResult, RunSpec

WAIT = 60.0  # fail-safe upper bound for anything to happen; never a measured threshold
POLL = 0.02
UNFINISHED = ("queued", "preparing", "running")

# A worker whose behaviour is the payload: what to print, touch, wait for, and how to exit.
TOOL = r"""
import json, os, sys, time
args = sys.argv
p = json.load(open(args[args.index("-payload") + 1]))
if "argv" in p:
    print(json.dumps(args[1:]), flush=True)
if "env" in p:
    print(json.dumps({k: os.environ.get(k) for k in p["env"]}), flush=True)
if "print" in p:
    print(p["print"], flush=True)
if "stderr" in p:
    print(p["stderr"], file=sys.stderr, flush=True)
if "touch" in p:
    open(p["touch"], "w").close()
if "wait_for" in p:
    while not os.path.exists(p["wait_for"]):
        time.sleep(0.01)
if "sleep" in p:
    time.sleep(p["sleep"])
sys.exit(p.get("exit", 0))
"""

FIB_PY = r"""
import json, sys
args = sys.argv
payload = json.load(open(args[args.index("-payload") + 1]))
n = int(payload["max"])
a, b, out = 0, 1, []
while a <= n:
    out.append(a)
    a, b = b, a + b
print("computing fibonacci up to %d" % n)
print("MAGICALSTDOUTSEPARATOR" + json.dumps(out) + "MAGICALSTDOUTSEPARATOR")
"""

FIB_PHP = r"""<?php
$payload = getPayload(true);
$max = $payload['max'];
$a = 0; $b = 1; $r = array();
while ($a <= $max) { $r[] = $a; $c = $a + $b; $a = $b; $b = $c; }
echo "MAGICALSTDOUTSEPARATOR" . json_encode($r) . "MAGICALSTDOUTSEPARATOR";
"""


def fib_upto(n: int) -> list[int]:
    a, b, out = 0, 1, []
    while a <= n:
        out.append(a)
        a, b = b, a + b
    return out


def make_zip(files: Mapping[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


class Api:
    """Project-scoped calls to an engine, with polling helpers."""

    def __init__(self, url: str, project_id: str, token: str) -> None:
        self.url = url
        self.project_id = project_id
        self.token = token
        self.base = f"{url}/2/projects/{project_id}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"OAuth {token}"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def upload_raw(
        self, data: Mapping[str, Any], zip_bytes: bytes | None, filename: str = "code.zip"
    ) -> requests.Response:
        files: dict[str, Any] = {"data": (None, json.dumps(data))}
        if zip_bytes is not None:
            files["file"] = (filename, zip_bytes, "application/zip")
        return self.call("POST", "/codes", files=files)

    def upload(
        self,
        name: str,
        files: Mapping[str, str | bytes] | None = None,
        file_name: str = "worker.py",
        runtime: str = "python",
        **settings: Any,
    ) -> str:
        data = {"name": name, "runtime": runtime, "file_name": file_name, **settings}
        zip_bytes = make_zip(files if files is not None else {file_name: TOOL})
        r = self.upload_raw(data, zip_bytes)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def queue(self, code_name: str, payload: Any = None, **opts: Any) -> str:
        body = {"code_name": code_name, "payload": json.dumps(payload or {}), **opts}
        return str(self.ok("POST", "/tasks", json={"tasks": [body]})["tasks"][0]["id"])

    def task(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("GET", f"/tasks/{task_id}")
        return result

    def wait_status(self, task_id: str, statuses: Iterable[str]) -> dict[str, Any]:
        wanted = set(statuses)
        deadline = time.monotonic() + WAIT
        while True:
            task = self.task(task_id)
            if task["status"] in wanted:
                return task
            assert time.monotonic() < deadline, f"task never reached {wanted}: {task}"
            time.sleep(POLL)

    def wait(self, task_id: str) -> dict[str, Any]:
        """Until the task has finished (any final status)."""
        deadline = time.monotonic() + WAIT
        while True:
            task = self.task(task_id)
            if task["status"] not in UNFINISHED:
                return task
            assert time.monotonic() < deadline, f"task never finished: {task}"
            time.sleep(POLL)

    def log(self, task_id: str) -> str:
        r = self.call("GET", f"/tasks/{task_id}/log")
        assert r.status_code == 200, r.text
        return r.text


def wait_for(predicate: Any, what: str) -> None:
    """Poll ``predicate()`` until true (fail-safe bound WAIT)."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL)


# -- running one task through the runner, without an engine ------------------------------


def package_zip(
    tmp_path: Path, files: Mapping[str, str | bytes], executable: tuple[str, ...] = ()
) -> Path:
    """``tmp_path/code.zip`` holding ``files``; the names in ``executable`` get mode 755."""
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, text)
    return path


def make_spec(
    tmp_path: Path,
    files: Mapping[str, str | bytes],
    file_name: str,
    runtime: str = "python",
    *,
    payload: str = "{}",
    config: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    schedule_id: str | None = None,
    task_id: str = "0123456789abcdef01234567",
    executable: tuple[str, ...] = (),
    stack: str | None = None,
    memory_mb: int = 0,
) -> RunSpec:
    """A spec running ``file_name`` from ``files``, with its work and log under ``tmp_path``."""
    return RunSpec(
        task_id=task_id,
        zip_path=package_zip(tmp_path, files, executable),
        runtime=runtime,
        file_name=file_name,
        payload=payload,
        config=config,
        env_vars=env_vars or {},
        timeout=timeout,
        work_root=tmp_path / "work",
        log_path=tmp_path / "logs" / f"{task_id}.log",
        schedule_id=schedule_id,
        stack=stack,
        memory_mb=memory_mb,
    )


def run_task(spec: RunSpec) -> tuple[RunResult, str]:
    """Start ``spec`` and wait for its end: the RunResult and the whole log."""
    result = runner.start(spec).wait(WAIT)
    assert result is not None, "task did not end"
    log = spec.log_path.read_text() if spec.log_path.exists() else ""
    return result, log


def wait_for_log(spec: RunSpec, needle: str) -> str:
    """The log once it contains ``needle`` (fail-safe bound WAIT)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        text = spec.log_path.read_text() if spec.log_path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.01)
    raise AssertionError(f"{needle!r} never appeared in the log")


def processes_with_arg(arg: str) -> list[int]:
    """Live processes with ``arg`` among their arguments (seen from the host's /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if arg.encode() in argv and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found
