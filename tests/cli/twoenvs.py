"""Staging and production for CLI tests of promote and diff --env: a real git repository whose
ironship.yml declares both environments, each a project on a real engine of its own.

Production's overlay sets its own max_concurrency, its own MODE and a ``${secret:API_KEY}``
read from the environment, so a test can tell whose settings a package runs with and check
that the secret shows nowhere but on production's server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Run, new_project, run_cli
from deploy.gitrepo import PLAIN_ENV, Repo

from ironship.engine.server import EngineServer
from ironship.iron.types import Code

SEP = "MAGICALSTDOUTSEPARATOR"
API_KEY = "prod-api-key-51c0e7a9d2"
FIB = f"""\
import json, os
print("{SEP}" + json.dumps({{"ok": True, "mode": os.environ.get("MODE")}}) + "{SEP}")
"""
PLAIN = f'print("{SEP}{{}}{SEP}")\n'
MANIFEST = """\
version: 1
workers:
  fib:
    root: w
    entry: fib.py
    max_concurrency: 2
    env: {{MODE: base}}
    smoke:
      - name: answers
        output: {{subset: {{ok: true}}}}
{extra}  plain:
    root: p
    entry: main.py
environments:
  staging:
    target: {{host: 127.0.0.1, port: {s_port}, scheme: http, project_id: {s_id},
             token: "${{env:STAGING_TOKEN}}"}}
    workers:
      fib: {{env: {{MODE: staging}}}}
  production:
    target: {{host: 127.0.0.1, port: {p_port}, scheme: http, project_id: {p_id},
             token: "${{env:PROD_TOKEN}}"}}
    workers:
      fib:
        max_concurrency: 10
        env: {{MODE: production, API_KEY: "${{secret:API_KEY}}"}}
"""
FAILING_TEST = "      - name: wrong-mode\n        output: {equals: {mode: nope}}\n"


def engines_of(factory: pytest.TempPathFactory) -> Iterator[dict[str, EngineServer]]:
    """Two real engines: one plays staging, the other production."""
    with (
        EngineServer(factory.mktemp("staging"), poll_interval=0.02) as staging,
        EngineServer(factory.mktemp("production"), poll_interval=0.02) as production,
    ):
        yield {"staging": staging, "production": production}


class Stage:
    """The repository, this test's project on each engine, and the CLI run inside it."""

    def __init__(
        self,
        root: Path,
        engines: dict[str, EngineServer],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.repo = Repo(root).init()
        self.projects = {name: new_project(engine) for name, engine in engines.items()}
        self._capsys = capsys
        self._monkeypatch = monkeypatch
        self.write_manifest()
        self.repo.write({"w/fib.py": FIB, "p/main.py": PLAIN})

    def write_manifest(self, extra: str = "") -> None:
        """ironship.yml (``extra``: more smoke tests of fib)."""
        s, p = self.projects["staging"], self.projects["production"]
        text = MANIFEST.format(
            extra=extra,
            s_port=s.url.rsplit(":", 1)[1],
            s_id=s.project_id,
            p_port=p.url.rsplit(":", 1)[1],
            p_id=p.project_id,
        )
        self.repo.write({"ironship.yml": text})

    @property
    def environ(self) -> dict[str, str]:
        """The shell: both tokens, production's secret, no CI."""
        return {
            **PLAIN_ENV,
            "STAGING_TOKEN": self.projects["staging"].token,
            "PROD_TOKEN": self.projects["production"].token,
            "API_KEY": API_KEY,
        }

    def cli(self, *args: str, **env: str) -> Run:
        """`ironship ARGS` in the repository."""
        return run_cli(
            list(args),
            self._capsys,
            self._monkeypatch,
            env={**self.environ, **env},
            cwd=self.repo.root,
        )

    def ok(self, *args: str, **env: str) -> Run:
        """`ironship ARGS`, which must exit 0."""
        res = self.cli(*args, **env)
        assert res.code == 0, res.out + res.err
        return res

    def codes(self, env: str) -> dict[str, Code]:
        """Each code in ``env`` as ``GET codes/{id}`` returns it."""
        with self.projects[env].client() as client:
            return {c.name: client.get_code(c.id) for c in client.list_codes()}

    def revs(self, env: str) -> dict[str, int]:
        return {name: code.rev for name, code in self.codes(env).items()}
