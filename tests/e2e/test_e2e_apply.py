"""ironship plan/apply/queue end to end, over real HTTP against the local engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, Project, run_cli, write_tree
from faultproxy import fault_proxy

from ironship.engine.server import EngineServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEP = "MAGICALSTDOUTSEPARATOR"
ECHO = (
    "import json, sys\n"
    "payload = json.load(open(sys.argv[sys.argv.index('-payload') + 1]))\n"
    f"print('{SEP}' + json.dumps(payload) + '{SEP}')\n"
)


def fib_upto(limit: int) -> list[int]:
    """The Fibonacci numbers below ``limit`` from 1, as the tutorial's worker prints them."""
    seq: list[int] = []
    a, b = 0, 1
    while b < limit:
        seq.append(b)
        a, b = b, a + b
    return seq


@pytest.fixture
def cli(project_cli: Cli) -> Cli:
    return project_cli


def two_workers(tmp_path: Path, max_concurrency: int = 5) -> Path:
    write_tree(tmp_path / "a", {"main.py": ECHO, "lib.py": "A = 1\n"})
    write_tree(tmp_path / "b", {"main.py": ECHO, "lib.py": "B = 1\n", "data/x.txt": "x\n"})
    manifest = tmp_path / "ironship.yml"
    manifest.write_text(
        "version: 1\n"
        "workers:\n"
        "  alpha:\n    root: a\n    entry: main.py\n    payload: {n: 1}\n"
        f"    max_concurrency: {max_concurrency}\n"
        "  beta:\n    root: b\n    entry: main.py\n"
    )
    return manifest


def revs(project: Project) -> dict[str, tuple[int, int, str | None]]:
    """name -> (rev, number of revisions, latest_checksum), read from the engine."""
    with project.client() as c:
        return {
            code.name: (code.rev, len(c.list_revisions(code.id)), code.latest_checksum)
            for code in c.list_codes()
        }


def plan_doc(cli: Cli) -> dict[str, dict[str, Any]]:
    res = cli("plan", "--json")
    assert res.code == 0, res.err
    return {w["name"]: w for w in json.loads(res.out)["workers"]}


def test_example_deploys_and_its_task_logs_the_fibonacci_sequence(cli: Cli, tmp_path: Path) -> None:
    """The example applies, its worker queues, and the log holds the true sequence."""
    shutil.copytree(EXAMPLES / "workers", tmp_path / "workers")
    shutil.copy(EXAMPLES / "ironship.yml", tmp_path / "ironship.yml")
    res = cli("apply", "-y")
    assert res.code == 0, res.err
    assert "created" in res.out
    queued = cli("queue", "fib", "--payload", '{"max": 1000}', "--json")
    assert queued.code == 0, queued.err
    task_id = json.loads(queued.out)["id"]
    followed = cli("log", task_id, "--follow")
    assert followed.code == 0, followed.err
    assert "complete" in followed.err
    assert json.loads(followed.out.split(SEP)[1]) == fib_upto(1000)
    # The tutorial's sequence: no leading 0, the last number below the limit.
    assert json.loads(followed.out.split(SEP)[1])[:3] == [1, 1, 2]
    again = cli("log", task_id)
    assert again.out == followed.out


def test_second_apply_uploads_nothing(cli: Cli, project: Project, tmp_path: Path) -> None:
    """Right after an apply, apply says no changes and the engine gains no revision."""
    two_workers(tmp_path)
    assert cli("apply", "-y").code == 0
    before = revs(project)
    res = cli("apply", "-y")
    assert res.code == 0
    assert "No changes" in res.out
    assert revs(project) == before
    assert all(count == 1 for _, count, _ in before.values())


def test_touching_one_file_reuploads_only_that_worker(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A changed file is named in the plan, and only its worker gets a new revision."""
    two_workers(tmp_path)
    assert cli("apply", "-y").code == 0
    before = revs(project)
    (tmp_path / "b" / "lib.py").write_text("B = 2\n")
    beta = plan_doc(cli)["beta"]
    assert beta["action"] == "update"
    assert beta["files"] == {"added": [], "removed": [], "changed": ["lib.py"]}
    assert plan_doc(cli)["alpha"]["action"] == "unchanged"
    assert cli("apply", "-y").code == 0
    after = revs(project)
    assert after["alpha"] == before["alpha"]
    assert after["beta"][0] == before["beta"][0] + 1
    assert after["beta"][2] != before["beta"][2]


def test_changing_only_max_concurrency_updates_only_settings(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A settings change is shown as 'before → after' and keeps the uploaded zip."""
    two_workers(tmp_path, max_concurrency=5)
    assert cli("apply", "-y").code == 0
    before = revs(project)
    two_workers(tmp_path, max_concurrency=10)
    text = cli("plan")
    assert "max_concurrency: 5 → 10" in text.out
    alpha = plan_doc(cli)["alpha"]
    assert alpha["code_changed"] is False
    assert alpha["settings"] == [{"key": "max_concurrency", "before": 5, "after": 10}]
    res = cli("apply", "-y")
    assert res.code == 0
    assert "settings only" in res.out
    after = revs(project)
    assert after["alpha"][0] == before["alpha"][0] + 1
    assert after["alpha"][2] == before["alpha"][2]  # same zip checksum
    assert after["beta"] == before["beta"]
    with project.client() as c:
        code = c.find_code("alpha")
        assert code is not None and code.max_concurrency == 10


def test_renamed_file_is_removed_plus_added(cli: Cli, tmp_path: Path) -> None:
    """Renaming a file shows the old name removed and the new one added."""
    two_workers(tmp_path)
    assert cli("apply", "-y").code == 0
    (tmp_path / "b" / "data" / "x.txt").rename(tmp_path / "b" / "data" / "y.txt")
    beta = plan_doc(cli)["beta"]
    assert beta["files"] == {"added": ["data/y.txt"], "removed": ["data/x.txt"], "changed": []}
    text = cli("plan").out
    assert "+ data/y.txt" in text and "- data/x.txt" in text


def test_detailed_exitcode_and_json_document(cli: Cli, tmp_path: Path) -> None:
    """plan --detailed-exitcode exits 2 with changes and 0 without; --json is stable."""
    two_workers(tmp_path)
    res = cli("plan", "--json", "--detailed-exitcode")
    assert res.code == 2
    doc = json.loads(res.out)  # stdout holds only JSON
    assert doc["format_version"] == "1"
    assert doc["has_changes"] is True
    assert doc["summary"]["create"] == 2
    assert [w["action"] for w in doc["workers"]] == ["create", "create"]
    assert cli("apply", "-y").code == 0
    res = cli("plan", "--json", "--detailed-exitcode")
    assert res.code == 0
    assert json.loads(res.out)["has_changes"] is False


def test_apply_without_terminal_or_yes_refuses(cli: Cli, project: Project, tmp_path: Path) -> None:
    """With changes, no terminal and no --yes, apply exits 1 with a hint and uploads nothing."""
    two_workers(tmp_path)
    res = cli("apply")
    assert res.code == 1
    assert "--yes" in res.err
    assert revs(project) == {}


def test_orphans_are_shown_and_only_pruned_on_request(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A worker the manifest doesn't name is listed as an orphan; only --prune deletes it."""
    write_tree(tmp_path / "stray", {"s.py": "print(1)\n"})
    with project.client() as c:
        c.upload_code({"name": "stray", "runtime": "python", "file_name": "s.py"}, None)
    two_workers(tmp_path)
    text = cli("plan").out
    assert "? stray: orphan" in text
    assert cli("apply", "-y").code == 0
    assert "stray" in revs(project)
    res = cli("apply", "-y", "--prune")
    assert res.code == 0, res.err
    assert "deleted" in res.out
    assert set(revs(project)) == {"alpha", "beta"}


def test_bad_manifest_exits_1_with_location_and_uploads_nothing(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A typo in the manifest is reported at its line and column; nothing reaches the server."""
    two_workers(tmp_path)
    path = tmp_path / "ironship.yml"
    path.write_text(path.read_text().replace("max_concurrency", "max_concurency"))
    res = cli("apply", "-y")
    assert res.code == 1
    assert "ironship.yml:7:5: workers.alpha.max_concurency: unknown key" in res.err
    assert "did you mean 'max_concurrency'" in res.err
    assert "Traceback" not in res.err
    assert revs(project) == {}


def test_token_and_env_values_never_appear_in_output(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """Neither the token nor env values are printed, in text or JSON, even on errors."""
    write_tree(tmp_path / "w", {"main.py": ECHO})
    secret = "s3cr3t-value-do-not-print"
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  w:\n    root: w\n    entry: main.py\n"
        f"    env: {{API_KEY: {secret}}}\n"
    )
    outputs = [cli("plan"), cli("plan", "--json"), cli("apply", "-y", "--json")]
    (tmp_path / "ironship.yml").write_text(
        (tmp_path / "ironship.yml").read_text().replace(secret, secret + "2")
    )
    outputs += [cli("plan"), cli("plan", "--json"), cli("status")]
    outputs.append(cli("plan", "--token", "wrong-token-xyz"))
    assert outputs[-1].code == 1
    for res in outputs:
        for text in (res.out, res.err):
            assert project.token not in text
            assert secret not in text
            assert "wrong-token-xyz" not in text
    assert "env.API_KEY" in outputs[3].out


def test_partial_failure_finishes_the_others_and_exits_5(
    engine: EngineServer,
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When one upload fails, the other workers still deploy and the table says which failed."""
    two_workers(tmp_path)
    with fault_proxy(engine.url, {"alpha"}) as url:
        env = {**project.env, "IRON_WORKER_CLOUD": url}
        res = run_cli(["apply", "-y"], capsys, monkeypatch, env=env, cwd=tmp_path)
    assert res.code == 5
    assert "injected failure for alpha" in res.out
    assert "created" in res.out
    assert set(revs(project)) == {"beta"}


def test_package_not_uploaded_by_ironship_is_compared_by_checksum(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A package uploaded by another tool is unchanged when its zip MD5 equals latest_checksum."""
    two_workers(tmp_path)
    dist = tmp_path / "dist"
    assert cli("package", "--out", str(dist)).code == 0
    with project.client() as c:
        for name in ("alpha", "beta"):
            data: dict[str, Any] = {"name": name, "runtime": "python", "file_name": "main.py"}
            if name == "alpha":
                data["max_concurrency"] = 5
            c.upload_code(data, dist / f"{name}.zip")
    doc = plan_doc(cli)
    assert doc["alpha"]["action"] == "unchanged"
    assert "checksum" in doc["alpha"]["reasons"][0]
    (tmp_path / "a" / "lib.py").write_text("A = 2\n")
    alpha = plan_doc(cli)["alpha"]
    assert alpha["action"] == "update"
    assert alpha["files"]["changed"] == ["lib.py"]


def test_package_twice_gives_identical_zips(cli: Cli, tmp_path: Path) -> None:
    """`ironship package` writes byte-identical zips on repeated runs."""
    two_workers(tmp_path)
    assert cli("package", "--out", "one").code == 0
    assert cli("package", "--out", "two").code == 0
    for name in ("alpha", "beta"):
        one = (tmp_path / "one" / f"{name}.zip").read_bytes()
        assert one == (tmp_path / "two" / f"{name}.zip").read_bytes()
    listing = cli("files", "beta")
    assert "data/x.txt" in listing.out and "3 files" in listing.out


def test_queue_merges_payload_over_the_default(cli: Cli, tmp_path: Path) -> None:
    """queue deep-merges --payload over the manifest's default payload."""
    write_tree(tmp_path / "w", {"main.py": ECHO})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  echo:\n    root: w\n    entry: main.py\n"
        "    payload: {a: 1, b: {c: 2}}\n"
    )
    assert cli("apply", "-y").code == 0
    (tmp_path / "p.json").write_text('{"b": {"d": 3}}')
    res = cli("queue", "echo", "--payload", "@p.json", "--wait")
    assert res.code == 0, res.err
    assert json.loads(res.out.split(SEP)[1]) == {"a": 1, "b": {"c": 2, "d": 3}}
    bad = cli("queue", "echo", "--payload", "{nope")
    assert bad.code == 1 and "not valid JSON" in bad.err


def test_status_shows_revision_and_sync(cli: Cli, tmp_path: Path) -> None:
    """status lists each worker's revision and whether it is in sync."""
    two_workers(tmp_path)
    assert cli("apply", "-y").code == 0
    (tmp_path / "a" / "lib.py").write_text("A = 3\n")
    doc = json.loads(cli("status", "--json").out)
    states = {w["name"]: (w["rev"], w["state"]) for w in doc["workers"]}
    assert states == {"alpha": (1, "out of sync"), "beta": (1, "in sync")}


def test_without_credentials_the_local_engine_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no credentials anywhere, apply deploys to .ironship/engine beside the manifest."""
    two_workers(tmp_path)
    res = run_cli(["apply", "-y"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 0, res.err
    assert "local engine" in res.err
    assert (tmp_path / ".ironship" / "engine").is_dir()
    again = run_cli(["apply", "-y"], capsys, monkeypatch, cwd=tmp_path)
    assert "No changes" in again.out
    iron = run_cli(["plan", "--target", "iron"], capsys, monkeypatch, cwd=tmp_path)
    assert iron.code == 1 and "no IronWorker credentials" in iron.err


def test_clearing_a_setting_converges(cli: Cli, project: Project, tmp_path: Path) -> None:
    """Removing max_concurrency from the manifest unsets it on the server; then no changes."""
    two_workers(tmp_path, max_concurrency=5)
    assert cli("apply", "-y").code == 0
    manifest = tmp_path / "ironship.yml"
    manifest.write_text(manifest.read_text().replace("    max_concurrency: 5\n", ""))
    assert "max_concurrency: 5 → unset" in cli("plan").out
    res = cli("apply", "-y")
    assert res.code == 0, res.out + res.err
    assert "No changes" in cli("plan").out
    with project.client() as c:
        code = c.find_code("alpha")
        assert code is not None and code.max_concurrency in (None, -1)


def test_unknown_task_id_gets_a_hint(cli: Cli, tmp_path: Path) -> None:
    """An id the server doesn't know is a 404 with a hint about which engine or project."""
    two_workers(tmp_path)
    res = cli("task", "0" * 24)
    assert res.code == 1
    assert "a task id belongs to one engine and project" in res.err


def test_local_engine_warns_per_worker_about_a_runtime_it_cannot_run(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without php on the engine's PATH, plan/apply on the local engine warn, and still succeed."""
    write_tree(tmp_path / "php", {"hello.php": "<?php echo 'hi';\n"})
    write_tree(tmp_path / "py", {"main.py": ECHO})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n"
        "  hello-php:\n    root: php\n    entry: hello.php\n    runtime: php\n"
        "  hello-py:\n    root: py\n    entry: main.py\n"
    )
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {"PATH": str(empty)}  # the engine runs in this process and looks programs up here
    warning = (
        "warning: hello-php: the local engine has no 'php' runtime; "
        "its tasks will fail (install php-cli)\n"
    )
    planned = run_cli(["plan", "--target", "local"], capsys, monkeypatch, env=env, cwd=tmp_path)
    assert planned.code == 0, planned.err
    assert warning in planned.err
    assert "hello-py" not in planned.err
    as_json = run_cli(["plan", "--json"], capsys, monkeypatch, env=env, cwd=tmp_path)
    assert as_json.code == 0 and warning in as_json.err
    assert json.loads(as_json.out)["summary"]["create"] == 2
    applied = run_cli(["apply", "-y"], capsys, monkeypatch, env=env, cwd=tmp_path)
    assert applied.code == 0, applied.err
    assert warning in applied.err
    with monkeypatch.context() as m:
        m.setenv("PATH", str(empty))
        hosted = cli("plan")  # the Iron env vars name a server: not the local engine, no warning
    assert hosted.code == 0
    assert "warning:" not in hosted.err
