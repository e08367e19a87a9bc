"""--env on the real CLI: two local engines stand for staging and production; secrets reach the
server and nothing else.

Each engine is a real EngineServer on 127.0.0.1:0 (outside the project, so `.ironship/` holds
only what ironship itself writes there); each test has a project of its own on both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from cli_support import Project, Run, new_project, run_cli, write_tree

from ironship.cli.options import environment_layer
from ironship.deploy.executor import apply_plan
from ironship.deploy.planner import make_plan
from ironship.engine.server import EngineServer
from ironship.iron.target import ConnectOptions, open_target
from ironship.manifest.load import load_manifest
from ironship.secrets import FILTERED, MASK

API_KEY = "api-key-7f3a9c21e8"
DB_PASSWORD = "db-password-5b81d04c"
ROTATED = "api-key-rotated-44e0b9"
PAYLOAD_PASSWORD = "payload-pw-0c9e4f"
SEP = "MAGICALSTDOUTSEPARATOR"
WORKER = f"""
import json, os, sys
args = sys.argv
payload = json.load(open(args[args.index("-payload") + 1]))
out = {{"mode": os.environ.get("MODE"), "max": payload.get("max")}}
print("{SEP}" + json.dumps(out) + "{SEP}")
"""
MANIFEST = """\
version: 1
workers:
  fib:
    root: w
    entry: fib.py
    payload: {{max: 10}}
    env:
      MODE: base
      API_KEY: ${{secret:API_KEY}}
    config:
      db: {{host: db.example, password: "${{secret:DB_PASSWORD}}"}}
    smoke:
      - name: answers
        payload: {{password: {payload_password}}}
        output: {{subset: {{max: 10}}}}
{extra_tests}environments:
  staging:
    target:
      {{host: 127.0.0.1, port: {staging_port}, scheme: http, project_id: {staging_id},
       token: "${{env:STAGING_TOKEN}}"}}
    secrets_file: staging.secrets.yml
    workers:
      fib: {{env: {{MODE: staging}}}}
  production:
    target:
      {{host: 127.0.0.1, port: {production_port}, scheme: http, project_id: {production_id},
       token: "${{secret:PROD_TOKEN}}"}}
    workers:
      fib: {{env: {{MODE: production}}}}
"""
FAILING_TEST = "      - name: wrong-mode\n        output: {equals: {mode: nope}}\n"

Cli = Callable[..., Run]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EngineServer]]:
    """Two real engines: one plays staging, the other production."""
    with (
        EngineServer(tmp_path_factory.mktemp("staging"), poll_interval=0.02) as staging,
        EngineServer(tmp_path_factory.mktemp("production"), poll_interval=0.02) as production,
    ):
        yield {"staging": staging, "production": production}


@pytest.fixture
def projects(engines: dict[str, EngineServer]) -> dict[str, Project]:
    """This test's own project on each engine."""
    return {name: new_project(engine) for name, engine in engines.items()}


def write_project(root: Path, projects: Mapping[str, Project], extra: str = "") -> Path:
    """ironship.yml for both environments (``extra``: more smoke tests of fib), the worker,
    and staging's secrets file."""
    text = MANIFEST.format(
        payload_password=PAYLOAD_PASSWORD,
        staging_port=projects["staging"].url.rsplit(":", 1)[1],
        staging_id=projects["staging"].project_id,
        production_port=projects["production"].url.rsplit(":", 1)[1],
        production_id=projects["production"].project_id,
        extra_tests=extra,
    )
    write_tree(
        root,
        {
            "ironship.yml": text,
            "w/fib.py": WORKER,
            "staging.secrets.yml": f"API_KEY: {API_KEY}\nDB_PASSWORD: {DB_PASSWORD}\n",
        },
    )
    return root / "ironship.yml"


def process_env(projects: Mapping[str, Project]) -> dict[str, str]:
    """What the shell holds: staging's token; production's secrets as environment variables."""
    return {
        "STAGING_TOKEN": projects["staging"].token,
        "PROD_TOKEN": projects["production"].token,
        "API_KEY": "prod-" + API_KEY,
        "DB_PASSWORD": "prod-" + DB_PASSWORD,
        "CI": "",
    }


@pytest.fixture
def cli(
    tmp_path: Path,
    projects: dict[str, Project],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in this test's project folder, with the shell of ``process_env``."""

    def run(*args: str, **env: str) -> Run:
        return run_cli(list(args), capsys, monkeypatch, env={**process_env(projects), **env})

    monkeypatch.chdir(tmp_path)
    return run


def deploy(manifest_path: Path, env: str, environ: Mapping[str, str], scratch: Path) -> None:
    """Plan and apply ``env`` through the deploy core, as `apply --env` does."""
    manifest = load_manifest(manifest_path, env, environ=environ)
    opts = ConnectOptions(environment=environment_layer(manifest))
    with open_target(manifest.directory, opts, env={}) as target:
        plan = make_plan(target.client, manifest, secret_key=target.secret_key)
        result = apply_plan(target.client, plan, build_dir=scratch)
    assert [r.outcome for r in result.results] == ["created"]


def status_of(cli: Cli, *args: str, **env: str) -> tuple[str | None, str]:
    res = cli("status", "--json", *args, **env)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    (row,) = doc["workers"]
    return doc["environment"], row["state"]


def test_env_picks_the_environments_engine(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """Deployed to staging only: --env staging is in sync, production has nothing yet."""
    path = write_project(tmp_path, projects)
    deploy(path, "staging", process_env(projects), tmp_path / "build")
    assert status_of(cli, "--env", "staging") == ("staging", "in sync")
    assert status_of(cli, "--env", "production") == ("production", "not deployed")
    assert status_of(cli, IRONSHIP_ENV="staging") == ("staging", "in sync")
    with projects["staging"].client() as client:
        [code] = client.list_codes()
    assert code.env_vars["MODE"] == "staging"


def test_each_environment_gets_its_own_overlay_and_secrets(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """Staging reads its secrets file, production the environment; each engine holds its own."""
    path = write_project(tmp_path, projects)
    for env in ("staging", "production"):
        deploy(path, env, process_env(projects), tmp_path / f"build-{env}")
    for env, prefix in (("staging", ""), ("production", "prod-")):
        with projects[env].client() as client:
            [listed] = client.list_codes()
            code = client.get_code(listed.id)
        assert code.env_vars["API_KEY"] == prefix + API_KEY
        assert code.env_vars["MODE"] == env
        assert json.loads(code.config or "{}")["db"]["password"] == prefix + DB_PASSWORD
    res = cli("test", "--env", "production", "--json")
    assert res.code == 0, res.out + res.err


def test_no_env_with_environments_declared(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """A command without --env names the environments and how to pick one; exit 1."""
    write_project(tmp_path, projects)
    res = cli("status")
    assert res.code == 1
    assert res.err.splitlines() == [
        "error: ironship.yml declares environments staging, production: pick one with --env"
        " NAME (or IRONSHIP_ENV)"
    ]


def test_an_unknown_env_lists_the_environments(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """--env with a typo: the environments that exist, and the likely one."""
    write_project(tmp_path, projects)
    res = cli("test", "--env", "productoin")
    assert (res.code, res.out) == (1, "")
    assert res.err.splitlines() == [
        "error: --env productoin: ironship.yml declares no environment 'productoin'",
        "hint: did you mean 'production'? environments declared: staging, production",
    ]


def test_validate_checks_every_environment_or_one(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """Plain validate checks both overlays without secrets; --env reads that one's secrets."""
    write_project(tmp_path, projects)
    assert cli("validate", PROD_TOKEN="", API_KEY="").out == (
        "ironship.yml: ok (1 worker(s), environments staging, production)\n"
    )
    assert (
        cli("validate", "--env", "staging").out
        == "ironship.yml: ok (1 worker(s), environment staging)\n"
    )
    (tmp_path / "staging.secrets.yml").write_text(f"API_KEY: {API_KEY}\n")
    res = cli("validate", "--env", "staging", DB_PASSWORD="")
    assert res.code == 1
    assert (
        "${secret:DB_PASSWORD}: DB_PASSWORD is not in the secrets file staging.secrets.yml"
        in res.err
    )


def test_config_shows_where_values_come_from(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """config --json: each value with its origin, secrets masked, sensitive keys filtered."""
    write_project(tmp_path, projects)
    res = cli("config", "--env", "staging", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    staging = projects["staging"]
    assert doc["environment"] == "staging" and doc["target"]["kind"] == "iron"
    assert doc["target"]["description"] == (
        f"IronWorker project {staging.project_id}, host {staging.url}"
        " (from ironship.yml environment staging)"
    )
    assert doc["target"]["settings"]["token"] == {
        "value": MASK,
        "from": "environment staging via ${env:STAGING_TOKEN}",
        "variables": ["${env:STAGING_TOKEN}"],
    }
    [fib] = doc["workers"]
    settings = fib["settings"]
    assert settings["env.MODE"]["value"] == "staging"
    assert settings["env.MODE"]["from"] == "environment staging"
    assert settings["env.API_KEY"] == {
        "value": MASK,
        "from": "worker via ${secret:API_KEY}",
        "variables": ["${secret:API_KEY}"],
    }
    assert settings["config"]["value"] == {"db": {"host": "db.example", "password": MASK}}
    assert settings["smoke.answers.payload"]["value"] == {"max": 10, "password": FILTERED}
    assert settings["runtime"]["from"] == "built-in (from the entry's extension)"
    assert settings["timeout"] == {"value": None, "from": "built-in", "variables": []}


def test_secrets_reach_the_server_and_nothing_else(
    cli: Cli, tmp_path: Path, projects: dict[str, Project]
) -> None:
    """Every output and every file under .ironship/ lacks the secrets; the engine has them."""
    path = write_project(tmp_path, projects, FAILING_TEST)
    deploy(path, "staging", process_env(projects), tmp_path / "build")
    with projects["staging"].client() as client:
        [listed] = client.list_codes()
        code = client.get_code(listed.id)
    assert code.env_vars["API_KEY"] == API_KEY and DB_PASSWORD in (code.config or "")
    # A rotated secret is a change the plan names, without either value.
    (tmp_path / "staging.secrets.yml").write_text(
        f"API_KEY: {ROTATED}\nDB_PASSWORD: {DB_PASSWORD}\n"
    )
    junit = tmp_path / "reports" / "smoke.xml"
    runs = [
        cli("plan", "--env", "staging"),
        cli("plan", "--env", "staging", "--json"),
        cli("config", "--env", "staging"),
        cli("config", "--env", "staging", "--json"),
        cli("status", "--env", "staging", "--json"),
        cli("validate", "--env", "staging"),
        cli("files", "fib", "--env", "staging", "--json"),
        cli("test", "--env", "staging", "--json"),
        cli("--debug", "test", "--env", "staging", "--junit", str(junit)),
        cli("--debug", "status", "--env", "staging", "--token", "wrong-token"),
        cli("plan", "--env", "staging", "--out", "plan.json"),
        cli("show", "plan.json", "--format", "markdown"),
        cli("show", "plan.json", "--format", "json"),
        cli("show", "plan.json"),
        cli("diff", "fib", "latest", "--env", "staging"),
        cli("history", "fib", "--env", "staging", "--json"),
        cli("apply", "plan.json", "--env", "staging", "--json"),
    ]
    assert [r.code for r in runs] == [0, 0, 0, 0, 0, 0, 0, 3, 3, 1, 0, 0, 0, 0, 0, 0, 0]
    assert "    env.API_KEY changed" in runs[0].out.splitlines()
    assert PAYLOAD_PASSWORD not in runs[7].out and FILTERED in runs[7].out
    assert "FAIL fib / wrong-mode" in runs[8].out and "(401)" in runs[9].err
    assert "env.API_KEY changed" in runs[11].out  # the PR comment names the change
    texts = [r.out + r.err for r in runs] + [
        junit.read_text(),
        (tmp_path / "plan.json").read_text(),
    ]
    state = [p for p in (tmp_path / ".ironship").rglob("*") if p.is_file()]
    assert state  # at least its .gitignore; the hash cache too once files are old enough
    texts += [p.read_text(errors="replace") for p in state]
    secrets = (API_KEY, ROTATED, DB_PASSWORD, PAYLOAD_PASSWORD, projects["staging"].token)
    leaks = [(s, t[:200]) for t in texts for s in secrets if s in t]
    assert leaks == []
