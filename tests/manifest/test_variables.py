"""${env:…}, ${git:…} and ${secret:…}: resolved before validation, every problem located."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.gitrepo import git

from ironship.errors import IronshipError, ManifestError
from ironship.manifest.load import load_manifest, validate_manifest
from ironship.secrets import Secret

HEAD = "version: 1\nworkers:\n  fib:\n    root: w\n    entry: fib.py\n"


def project(tmp_path: Path, body: str) -> Path:
    """ironship.yml with worker fib (root w/) and ``body`` appended under it."""
    (tmp_path / "w").mkdir(exist_ok=True)
    (tmp_path / "w" / "fib.py").write_text("print(1)\n")
    path = tmp_path / "ironship.yml"
    path.write_text(HEAD + body)
    return path


def test_env_reference_with_and_without_default(tmp_path: Path) -> None:
    """${env:X} reads the environment; ${env:X:-d} falls back to d when X is unset or empty."""
    body = "    env:\n      A: ${env:A}\n      B: 'pre-${env:B:-fallback}-post'\n"
    body += "      C: ${env:C:-c}\n"
    path = project(tmp_path, body)
    worker = load_manifest(path, environ={"A": "from-a", "C": ""}).workers[0]
    assert worker.env == {"A": "from-a", "B": "pre-fallback-post", "C": "c"}
    worker = load_manifest(path, environ={"A": "a", "B": "b", "C": "x"}).workers[0]
    assert worker.env == {"A": "a", "B": "pre-b-post", "C": "x"}


def test_an_unset_variable_is_located(tmp_path: Path) -> None:
    """An unset variable without a default is FILE:LINE:COL: path: message (hint: the fix)."""
    path = project(tmp_path, "    env:\n      A: ${env:NOT_SET_ANYWHERE}\n")
    assert validate_manifest(path, environ={}) == [
        f"{path}:7:10: workers.fib.env.A: ${{env:NOT_SET_ANYWHERE}}: environment variable"
        " NOT_SET_ANYWHERE is not set (hint: set NOT_SET_ANYWHERE in the environment, or give a"
        " default: ${env:NOT_SET_ANYWHERE:-VALUE})"
    ]


def test_a_whole_reference_becomes_the_number_the_schema_wants(tmp_path: Path) -> None:
    """max_concurrency: ${env:N} with N=5 is the integer 5; env values stay strings."""
    path = project(tmp_path, "    max_concurrency: ${env:N}\n    env: {N: '${env:N}'}\n")
    worker = load_manifest(path, environ={"N": "5"}).workers[0]
    assert (worker.max_concurrency, worker.env) == (5, {"N": "5"})


def test_a_bad_resolved_value_is_reported_at_its_reference(tmp_path: Path) -> None:
    """N=abc for an integer: the schema's message, at the reference, naming the variable."""
    path = project(tmp_path, "    max_concurrency: ${env:N}\n")
    assert validate_manifest(path, environ={"N": "abc"}) == [
        f"{path}:6:22: workers.fib.max_concurrency: expected an integer, got a string ('abc')"
        " from ${env:N} (hint: give a whole number of at least 1, e.g. 5, or -1 for no limit)"
    ]


def test_an_out_of_range_resolved_value_is_reported_at_its_reference(tmp_path: Path) -> None:
    """A number outside the allowed range is reported like a written one, plus its origin."""
    path = project(tmp_path, "    retries: ${env:R}\n")
    [problem] = validate_manifest(path, environ={"R": "11"})
    assert problem.startswith(
        f"{path}:6:14: workers.fib.retries: 11 is more than the maximum 10 from ${{env:R}}"
    )


def test_unknown_kinds_and_git_values_get_a_did_you_mean(tmp_path: Path) -> None:
    """${evn:X} and ${git:shaa} are typos, reported with the likely fix."""
    path = project(tmp_path, "    env: {A: '${evn:X}', B: '${git:shaa}'}\n")
    assert validate_manifest(path, environ={}) == [
        f"{path}:6:14: workers.fib.env.A: unknown variable ${{evn:X}} (hint: did you mean"
        " '${env:X}'? ($${ writes a literal '${'))",
        f"{path}:6:29: workers.fib.env.B: unknown variable ${{git:shaa}} (hint: did you mean"
        " '${git:sha}'?)",
    ]


def test_literal_dollar_braces(tmp_path: Path) -> None:
    """$${ writes ${, and ${name} without a kind is left as written."""
    path = project(tmp_path, "    env: {A: 'cost $${env:X} ${HOME}'}\n")
    assert load_manifest(path, environ={}).workers[0].env == {"A": "cost ${env:X} ${HOME}"}


def test_git_sha_and_ref(tmp_path: Path) -> None:
    """${git:sha} is HEAD's commit; ${git:ref} its tag, else its branch, else the commit."""
    path = project(tmp_path, "    env: {SHA: '${git:sha}', REF: '${git:ref}'}\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    sha = git(tmp_path, "rev-parse", "HEAD")
    assert load_manifest(path).workers[0].env == {"SHA": sha, "REF": "main"}
    git(tmp_path, "tag", "v1.0")
    assert load_manifest(path).workers[0].env == {"SHA": sha, "REF": "v1.0"}
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "second")
    git(tmp_path, "checkout", "-q", "--detach")
    detached = git(tmp_path, "rev-parse", "HEAD")
    assert load_manifest(path).workers[0].env == {"SHA": detached, "REF": detached}


def test_git_outside_a_repository_is_located(tmp_path: Path) -> None:
    """${git:sha} with no repository is a located problem, not an empty value."""
    path = project(tmp_path, "    env: {SHA: '${git:sha}'}\n")
    [problem] = validate_manifest(path, environ={})
    assert problem == (
        f"{path}:6:16: workers.fib.env.SHA: ${{git:sha}}: the manifest's folder is not in a git"
        " repository with a commit (hint: commit the project first, or use ${env:NAME})"
    )


SECRETS = "    env: {API_KEY: '${secret:API_KEY}'}\n    config: {db: {password: '${secret:DB}'}}\n"


def test_secrets_come_from_the_secrets_file_first(tmp_path: Path) -> None:
    """--secrets-file values win over environment variables of the same name; both are Secrets."""
    path = project(tmp_path, SECRETS)
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("API_KEY: from-file\nDB: 0123\n")
    worker = load_manifest(path, secrets_file=secrets, environ={"API_KEY": "from-env"}).workers[0]
    assert worker.env == {"API_KEY": Secret("from-file")}
    assert worker.config == {"db": {"password": Secret("0123")}}  # the text, not the number 83
    assert "from-file" not in repr(worker) and "0123" not in repr(worker)


def test_secrets_fall_back_to_the_environment(tmp_path: Path) -> None:
    """Without a secrets file, ${secret:NAME} reads the environment variable NAME."""
    path = project(tmp_path, SECRETS)
    worker = load_manifest(path, environ={"API_KEY": "k", "DB": "d"}).workers[0]
    assert worker.env == {"API_KEY": Secret("k")}


def test_an_environments_secrets_file_is_relative_to_the_manifest(tmp_path: Path) -> None:
    """secrets_file: names a file beside the manifest; the Environment says which was read."""
    body = SECRETS + "environments:\n  staging: {secrets_file: secrets/staging.yml}\n"
    path = project(tmp_path, body)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "staging.yml").write_text("API_KEY: s\nDB: d\n")
    manifest = load_manifest(path, "staging", environ={})
    assert manifest.workers[0].env == {"API_KEY": Secret("s")}
    assert manifest.environment is not None
    assert manifest.environment.secrets_file == Path("secrets/staging.yml")


def test_a_missing_secret_names_both_places(tmp_path: Path) -> None:
    """The message names the secrets file and the environment variable it looked in."""
    body = SECRETS + "environments:\n  staging: {secrets_file: staging.yml}\n"
    path = project(tmp_path, body)
    (tmp_path / "staging.yml").write_text("DB: d\n")
    assert validate_manifest(path, "staging", environ={}) == [
        f"{path}:6:20: workers.fib.env.API_KEY: ${{secret:API_KEY}}: API_KEY is not in the"
        " secrets file staging.yml and the environment variable API_KEY is unset or empty"
        " (hint: add 'API_KEY: …' to staging.yml and never commit it, or set API_KEY in the"
        " environment)"
    ]
    (tmp_path / "staging.yml").unlink()
    [problem, _] = validate_manifest(path, "staging", environ={})
    assert "the secrets file staging.yml does not exist and the environment variable" in problem


def test_plain_validate_reads_no_secret(tmp_path: Path) -> None:
    """validate without --env accepts every secret unread; --env NAME needs them."""
    body = SECRETS + "environments:\n  staging: {}\n"
    path = project(tmp_path, body)
    assert validate_manifest(path, environ={}) == []
    assert len(validate_manifest(path, "staging", environ={})) == 2


def test_secrets_are_refused_outside_env_config_and_tokens(tmp_path: Path) -> None:
    """A payload or a number can't hold a secret: nothing would keep it masked there."""
    body = "    payload: {key: '${secret:K}'}\n    timeout: ${secret:T}\n"
    path = project(tmp_path, body)
    hint = (
        "(hint: secrets may be used only in env values, config and an environment's"
        " target.token: nothing else is kept secret)"
    )
    assert validate_manifest(path, environ={"K": "k", "T": "5"}) == [
        f"{path}:6:20: workers.fib.payload.key: ${{secret:K}} can't be used here {hint}",
        f"{path}:7:14: workers.fib.timeout: ${{secret:T}} can't be used here {hint}",
    ]


def test_a_missing_secrets_file_flag_is_an_error(tmp_path: Path) -> None:
    """--secrets-file naming no file stops with the flag named."""
    path = project(tmp_path, SECRETS)
    with pytest.raises(IronshipError, match=r"^--secrets-file .*nope\.yml: no such file$"):
        load_manifest(path, secrets_file=tmp_path / "nope.yml")


def test_a_bad_secrets_file_is_located_without_its_values(tmp_path: Path) -> None:
    """Problems in the secrets file name the line and key, never a value."""
    path = project(tmp_path, SECRETS)
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("API_KEY: [not-a-string-hunter2]\nbad name: x\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, secrets_file=secrets)
    assert caught.value.problems == [
        f"{secrets}:1:1: API_KEY: expected a string (hint: quote the value)",
        f"{secrets}:2:1: invalid secret name 'bad name' (hint: use letters, digits, '_', '.'"
        " and '-')",
    ]
    assert "hunter2" not in str(caught.value)


def test_references_in_anchors_resolve_where_used(tmp_path: Path) -> None:
    """An x- anchor holding a reference is resolved in each place that uses it."""
    text = (
        "version: 1\nx-common: &common {env: {A: '${env:A}'}}\nworkers:\n"
        "  fib:\n    <<: *common\n    root: w\n    entry: fib.py\n"
    )
    path = project(tmp_path, "")
    path.write_text(text)
    assert load_manifest(path, environ={"A": "1"}).workers[0].env == {"A": "1"}
