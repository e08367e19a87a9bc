"""environments: picking one, laying its overlay over the file, problems at the overlay's lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironship.errors import IronshipError, ManifestError
from ironship.manifest.load import load_manifest, validate_manifest
from ironship.manifest.models import EnvironmentTarget
from ironship.secrets import Secret

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
ENVIRON = {"STAGING_TOKEN": "tok-staging", "PROD_TOKEN": "tok-prod"}

BASE = """\
version: 1
defaults:
  timeout: 300
  retries: 1
  env: {LOG: info, REGION: eu}
workers:
  fib:
    root: w
    entry: fib.py
    retries: 2
    env: {LOG: warn}
  sum:
    root: w
    entry: fib.py
"""
STAGING = """\
environments:
  staging:
    target:
      {host: 127.0.0.1, port: 8081, scheme: http, project_id: p1, token: "${env:STAGING_TOKEN}"}
    defaults:
      timeout: 60
      retries: 5
      env: {REGION: us, DEBUG: "1"}
    workers:
      fib:
        max_concurrency: 2
        env: {LOG: debug}
  production:
    target: {project_id: p2, token: "${env:PROD_TOKEN}"}
"""


def project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "w").mkdir(exist_ok=True)
    (tmp_path / "w" / "fib.py").write_text("print(1)\n")
    path = tmp_path / "ironship.yml"
    path.write_text(text)
    return path


def test_overlay_precedence_for_worker_keys(tmp_path: Path) -> None:
    """environments.E.workers.W > workers.W > environments.E.defaults > defaults, key by key."""
    manifest = load_manifest(project(tmp_path, BASE + STAGING), "staging", environ=ENVIRON)
    fib, total = manifest.workers
    assert (fib.timeout, fib.retries, fib.max_concurrency) == (60, 2, 2)
    assert (total.timeout, total.retries, total.max_concurrency) == (60, 5, None)
    assert fib.env == {"LOG": "debug", "REGION": "us", "DEBUG": "1"}
    assert total.env == {"LOG": "info", "REGION": "us", "DEBUG": "1"}


def test_an_environment_without_overlays_keeps_the_file(tmp_path: Path) -> None:
    """production sets only a target: its workers are the file's."""
    manifest = load_manifest(project(tmp_path, BASE + STAGING), "production", environ=ENVIRON)
    fib = manifest.workers[0]
    assert (fib.timeout, fib.retries, fib.env) == (300, 2, {"LOG": "warn", "REGION": "eu"})
    assert manifest.environment is not None and manifest.environment.name == "production"
    assert manifest.environment.target == EnvironmentTarget(
        project_id="p2", token=Secret("tok-prod")
    )


def test_the_target_is_resolved_and_the_token_is_a_secret(tmp_path: Path) -> None:
    """The environment's target keeps its typed values; its token reads (sensitive)."""
    manifest = load_manifest(project(tmp_path, BASE + STAGING), "staging", environ=ENVIRON)
    assert manifest.environments == ("staging", "production")
    assert manifest.environment is not None
    target = manifest.environment.target
    assert (target.host, target.port, target.scheme, target.project_id) == (
        "127.0.0.1",
        8081,
        "http",
        "p1",
    )
    assert isinstance(target.token, Secret) and target.token.reveal() == "tok-staging"
    assert "tok-staging" not in repr(manifest)


def test_no_environment_picked_names_them_all(tmp_path: Path) -> None:
    """Environments declared and none picked: the message lists them and says how to pick."""
    path = project(tmp_path, BASE + STAGING)
    with pytest.raises(IronshipError) as caught:
        load_manifest(path, environ=ENVIRON)
    assert caught.value.message == (
        f"{path} declares environments staging, production: "
        "pick one with --env NAME (or IRONSHIP_ENV)"
    )


def test_an_unknown_environment_lists_the_ones_that_exist(tmp_path: Path) -> None:
    """A typo gets a did-you-mean and the list of environments."""
    path = project(tmp_path, BASE + STAGING)
    with pytest.raises(IronshipError) as caught:
        load_manifest(path, "stagign", environ=ENVIRON)
    assert caught.value.message == f"--env stagign: {path} declares no environment 'stagign'"
    assert caught.value.hint == "did you mean 'staging'? environments declared: staging, production"


def test_env_without_environments_is_refused(tmp_path: Path) -> None:
    """--env on a manifest that declares none says so instead of ignoring it."""
    path = project(tmp_path, BASE)
    with pytest.raises(IronshipError, match=r"--env staging: .* declares no environments"):
        load_manifest(path, "staging")


def test_a_bad_overlay_value_is_located_in_the_environment(tmp_path: Path) -> None:
    """A value the overlay sets is reported at its own line, under its own path."""
    text = BASE + STAGING.replace("max_concurrency: 2", "max_concurrency: 0")
    path = project(tmp_path, text)
    assert validate_manifest(path, "staging", environ=ENVIRON) == [
        f"{path}:25:26: environments.staging.workers.fib.max_concurrency: 0 is not allowed here"
        " (hint: How many tasks of this worker may run at once: an integer of at least 1, or -1"
        " for no limit.)"
    ]


def test_a_missing_folder_set_by_an_overlay_is_located_there(tmp_path: Path) -> None:
    """Semantic checks run on the overlaid worker and point at the overlay's root."""
    text = BASE + STAGING + "    workers:\n      sum: {root: nowhere}\n"
    path = project(tmp_path, text)
    [problem] = validate_manifest(path, "production", environ=ENVIRON)
    assert problem.startswith(
        f"{path}:30:19: environments.production.workers.sum.root: folder 'nowhere' does not exist"
    )


def test_plain_validate_checks_every_environment(tmp_path: Path) -> None:
    """Without --env, each environment's overlay is validated; with --env only that one."""
    text = BASE + STAGING + "    defaults: {priority: 7}\n"
    path = project(tmp_path, text)
    problem = f"{path}:29:26: environments.production.defaults.priority: 7 is not one of: 0, 1, 2"
    assert validate_manifest(path, environ=ENVIRON) == [problem]
    assert validate_manifest(path, "staging", environ=ENVIRON) == []
    assert validate_manifest(path, "production", environ=ENVIRON) == [problem]


def test_an_overlay_of_an_unknown_worker_gets_a_did_you_mean(tmp_path: Path) -> None:
    """environments.E.workers names only declared workers."""
    path = project(tmp_path, BASE + STAGING + "    workers:\n      fibb: {retries: 1}\n")
    assert validate_manifest(path, environ=ENVIRON) == [
        f"{path}:30:7: environments.production.workers.fibb: no worker named 'fibb' in"
        " 'workers:' (hint: did you mean 'fib'?)"
    ]


def test_unknown_environment_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    """The environment section is closed like the rest of the schema."""
    path = project(tmp_path, BASE + STAGING + "    secret_file: s.yml\n")
    assert validate_manifest(path, "production", environ=ENVIRON) == [
        f"{path}:29:5: environments.production.secret_file: unknown key 'secret_file'"
        " (hint: did you mean 'secrets_file'?)"
    ]


def test_entry_and_smoke_have_no_defaults_in_an_environment_either(tmp_path: Path) -> None:
    """An environment's defaults follow the rules of the file's."""
    path = project(tmp_path, BASE + STAGING + "    defaults: {entry: x.py}\n")
    assert validate_manifest(path, "production", environ=ENVIRON) == [
        f"{path}:29:16: environments.production.defaults.entry: 'entry' can't have a default"
        " (hint: set 'entry' on each worker)"
    ]


def test_a_literal_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A token written in the file is a located error with the fix; its text is never shown."""
    text = BASE + STAGING.replace('token: "${env:PROD_TOKEN}"', "token: hunter2-literal")
    path = project(tmp_path, text)
    problems = validate_manifest(path, environ=ENVIRON)
    assert problems == [
        f"{path}:28:37: environments.production.target.token: the token is written in the"
        " manifest, which is committed with the code (hint: write 'token: ${secret:NAME}' (read"
        " from the secrets file or the environment) or 'token: ${env:NAME}', and keep the token"
        " itself out of the repository)"
    ]
    assert "hunter2" not in "".join(problems)


def test_a_token_with_a_literal_default_is_refused_too(tmp_path: Path) -> None:
    """${env:X:-default} would put a token in the file all the same."""
    text = BASE + STAGING.replace("${env:PROD_TOKEN}", "${env:PROD_TOKEN:-hunter2}")
    [problem] = validate_manifest(project(tmp_path, text), "production", environ={})
    assert "the token is written in the manifest" in problem and "hunter2" not in problem


def test_a_numeric_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A token YAML reads as a number is no less literal, and its digits are not shown."""
    text = BASE + STAGING.replace('token: "${env:PROD_TOKEN}"', "token: 987654321")
    [problem] = validate_manifest(project(tmp_path, text), "production", environ=ENVIRON)
    assert "the token is written in the manifest" in problem and "987654321" not in problem


def test_other_environments_are_not_resolved(tmp_path: Path) -> None:
    """A command for staging needs nothing production's references name."""
    environ = {"STAGING_TOKEN": "tok-staging"}
    manifest = load_manifest(project(tmp_path, BASE + STAGING), "staging", environ=environ)
    assert manifest.environment is not None and manifest.environment.name == "staging"
    with pytest.raises(ManifestError, match=r"PROD_TOKEN is not set"):
        load_manifest(project(tmp_path, BASE + STAGING), "production", environ=environ)


def test_invalid_environment_name(tmp_path: Path) -> None:
    """Environment names follow --env's spelling rules."""
    path = project(tmp_path, BASE + "environments:\n  'stag ing': {}\n")
    with pytest.raises(IronshipError):
        load_manifest(path, "stag ing")
    assert validate_manifest(path) == [
        f"{path}:16:3: environments[\"stag ing\"]: invalid environment name 'stag ing'"
        " (hint: use letters, digits, '_', '.' and '-')"
    ]


def test_smoke_tests_can_be_replaced_per_environment(tmp_path: Path) -> None:
    """An environment may give a worker its own smoke tests, located at the overlay."""
    text = BASE + STAGING + "    workers:\n      fib:\n        smoke: [{name: prod-only}]\n"
    manifest = load_manifest(project(tmp_path, text), "production", environ=ENVIRON)
    [test] = manifest.workers[0].smoke
    assert test.name == "prod-only"
    assert test.location is not None and test.location.line == 31
