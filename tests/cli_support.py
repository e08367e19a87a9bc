"""Helpers for end-to-end CLI tests: run ``ironship`` in-process against a real engine."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from ironship.cli.app import main
from ironship.engine.local import create_project
from ironship.engine.server import EngineServer
from ironship.iron.client import Client


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


# ``cli("plan", "--json")``: one ``ironship`` run (see the ``project_cli`` fixture).
Cli = Callable[..., Run]


@dataclass(frozen=True)
class Project:
    """One isolated project on a shared engine, with a client and the env that selects it."""

    url: str
    project_id: str
    token: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "IRON_WORKER_CLOUD": self.url,
            "IRON_TOKEN": self.token,
            "IRON_PROJECT_ID": self.project_id,
        }

    def client(self) -> Client:
        return Client(self.url, self.project_id, self.token, retries=1)


def new_project(engine: EngineServer, name: str = "test") -> Project:
    pid, token = create_project(engine.data_dir, name)
    return Project(engine.url, pid, token)


# The CI a test suite runs under must not change what a test's ironship sees: CI=true refuses
# dirty deploys, and the CI variables feed the IRONSHIP_CI_URL/IRONSHIP_BY stamps.
_CI_VARS = frozenset({"CI", "CI_JOB_URL", "BUILD_URL", "GITLAB_USER_LOGIN", "USER"})


def run_cli(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``ironship ARGS`` in this process; returns its exit code, stdout and stderr."""
    capsys.readouterr()
    with monkeypatch.context() as m:
        for key in [k for k in os.environ if k.startswith("IRON") or k in _CI_VARS]:
            m.delenv(key)
        for key in [k for k in os.environ if k.startswith("GITHUB_")]:
            m.delenv(key)
        m.setenv("NO_COLOR", "1")
        m.setenv("HOME", str(cwd or Path.cwd()))
        for key, value in (env or {}).items():
            m.setenv(key, value)
        if cwd is not None:
            m.chdir(cwd)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def cli_for(
    project: Project,
    cwd: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    **base: str,
) -> Cli:
    """``ironship ARGS`` in ``cwd`` on ``project``, with ``base`` and then the call's keyword
    arguments as extra environment variables."""

    def run(*args: str, **env: str) -> Run:
        return run_cli(list(args), capsys, monkeypatch, env={**project.env, **base, **env}, cwd=cwd)

    return run


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


HELLO_MANIFEST = """\
version: 1
workers:
  hello:
    root: hello
    entry: main.py
    runtime: python
"""


def hello_project(folder: Path, extra: str = "") -> Path:
    """A one-worker project in ``folder`` (``hello/main.py``); ``extra`` YAML is appended to
    its manifest (indented by four spaces it is more of the worker's settings)."""
    write_tree(folder, {"hello/main.py": "print('hello')\n"})
    path = folder / "ironship.yml"
    path.write_text(HELLO_MANIFEST + extra)
    return path


@contextlib.contextmanager
def killed_at_end(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> Iterator[None]:
    """Whatever happens in the block, ``proc`` does not outlive it: killed and collected
    if it still runs (a failed step must not leave a test waiting on a long worker)."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
