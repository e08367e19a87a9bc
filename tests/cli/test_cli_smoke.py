"""Smoke tests end to end through the CLI: apply --smoke, ironship test, reports, rollback.

Every test runs the real ``ironship`` CLI (in-process through ``ironship.cli.main``, or as a
subprocess where a real process matters) against one real engine on 127.0.0.1:0, each test in
a project of its own so their workers never meet.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import killed_at_end
from junitparser import Failure as JUnitFailure
from junitparser import JUnitXml

from ironship.cli.app import main
from ironship.engine.local import create_project
from ironship.engine.server import EngineServer
from ironship.iron.client import Client, Code

REPO = Path(__file__).resolve().parents[2]

# One worker steered by its payload (and config): it prints its VERSION, the payload's value
# and the config's mode as one JSON separator block, or fails on request.
WORKER = """\
import json, os, sys

VERSION = {version}
payload = json.load(open(os.environ["PAYLOAD_FILE"])) or {{}}
config = {{}}
if os.environ.get("CONFIG_FILE"):
    config = json.load(open(os.environ["CONFIG_FILE"]))
print("hello from version", VERSION, flush=True)
if payload.get("fail"):
    print("Traceback (most recent call last): asked to fail", flush=True)
    sys.exit(2)
if payload.get("crash"):
    raise RuntimeError("crashed on purpose")
result = {{"version": VERSION, "value": payload.get("value"), "mode": config.get("mode")}}
print("MAGICALSTDOUTSEPARATOR" + json.dumps(result) + "MAGICALSTDOUTSEPARATOR", flush=True)
"""
PASSING = {"name": "is-v1", "output": {"subset": {"version": 1}}}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True)
class Project:
    dir: Path
    manifest: Path
    client: Client

    def code(self, name: str) -> Code:
        found = self.client.find_code(name)
        assert found is not None, f"{name} is not on the engine"
        return found


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    """One engine for the module; enough workers for tests queued side by side."""
    with EngineServer(tmp_path_factory.mktemp("engine"), workers=4, poll_interval=0.02) as eng:
        yield eng


@pytest.fixture
def project(
    engine: EngineServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """A fresh engine project, with the CLI pointed at it through the Iron env vars."""
    pid, token = create_project(engine.data_dir, tmp_path.name)
    for key in list(os.environ):
        if key.startswith(("IRON_", "IRONSHIP_")) or key in ("CI", "NO_COLOR"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IRON_WORKER_CLOUD", engine.url)
    monkeypatch.setenv("IRON_TOKEN", token)
    monkeypatch.setenv("IRON_PROJECT_ID", pid)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/.iron.json of the machine's user
    monkeypatch.chdir(tmp_path)
    client = Client(engine.url, pid, token, timeout=10, retries=1)
    yield Project(tmp_path, tmp_path / "ironship.yml", client)
    client.close()


def write_worker(root: Path, name: str, version: int = 1) -> None:
    folder = root / "workers" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(WORKER.format(version=version), encoding="utf-8")


def write_manifest(root: Path, workers: dict[str, dict[str, Any]]) -> Path:
    """ironship.yml with one python worker per entry (``workers/<name>/main.py``)."""
    doc = {
        "version": 1,
        "workers": {
            name: {"root": f"workers/{name}", "entry": "main.py", "runtime": "python", **spec}
            for name, spec in workers.items()
        },
    }
    path = root / "ironship.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def setup(project: Project, workers: dict[str, dict[str, Any]], version: int = 1) -> None:
    for name in workers:
        write_worker(project.dir, name, version)
    write_manifest(project.dir, workers)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """Run ``ironship ARGS`` in-process; the exit code comes from main()'s SystemExit."""
    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # main() always exits
        raise AssertionError("ironship.cli.app.main returned without exiting")
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def smoke_names(run: Run) -> list[str]:
    """``worker/test`` of every smoke result in an ``apply --json`` document."""
    smoke = run.json()["smoke"]
    return sorted(f"{r['worker']}/{r['test']}" for r in smoke["results"])


def test_apply_smoke_runs_tests_only_for_changed_workers(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--smoke tests the workers this apply changed, none when nothing changed; =all tests all."""
    setup(project, {"a": {"smoke": [PASSING]}, "b": {"smoke": [PASSING]}})
    first = cli(capsys, "apply", "-y", "--smoke")
    assert first.code == 0, first.out + first.err
    assert "Smoke: 2 passed, 0 failed." in first.out

    again = cli(capsys, "apply", "-y", "--smoke", "--json")
    assert again.code == 0, again.err
    assert again.json()["smoke"]["summary"] == {"total": 0, "passed": 0, "failed": 0}
    quiet = cli(capsys, "apply", "-y", "--smoke")
    assert "no changes: nothing uploaded" in quiet.out
    assert "no smoke tests to run for the changed workers" in quiet.err
    assert "Smoke:" not in quiet.out

    write_worker(project.dir, "b", version=1)  # rewritten with the same bytes: still unchanged
    (project.dir / "workers" / "b" / "extra.txt").write_text("new file\n", encoding="utf-8")
    only_b = cli(capsys, "apply", "-y", "--smoke", "--json")
    assert only_b.code == 0, only_b.err
    assert smoke_names(only_b) == ["b/is-v1"]

    every = cli(capsys, "apply", "-y", "--smoke=all", "--json")
    assert every.code == 0, every.err
    assert smoke_names(every) == ["a/is-v1", "b/is-v1"]


def test_smoke_test_only_change_counts_as_a_change(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing only a worker's smoke tests shows in the plan and gets those tests run by --smoke."""
    setup(project, {"a": {"smoke": [PASSING]}, "b": {"smoke": [PASSING]}})
    assert cli(capsys, "apply", "-y").code == 0
    checksum = project.code("a").latest_checksum

    edited = {"name": "is-v1", "payload": {"value": 7}, "output": {"subset": {"value": 7}}}
    write_manifest(project.dir, {"a": {"smoke": [edited]}, "b": {"smoke": [PASSING]}})
    plan = cli(capsys, "plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "~ a: update (settings)" in plan.out
    assert "smoke tests changed" in plan.out
    assert "b:" not in plan.out

    applied = cli(capsys, "apply", "-y", "--smoke", "--json")
    assert applied.code == 0, applied.err
    doc = applied.json()
    (result,) = [r for r in doc["results"] if r["name"] == "a"]
    assert (result["outcome"], result["code_uploaded"]) == ("updated", False)
    assert smoke_names(applied) == ["a/is-v1"]
    assert project.code("a").latest_checksum == checksum
    assert cli(capsys, "plan", "--detailed-exitcode").code == 0


def test_failing_smoke_test_exits_3_with_expected_received_task_and_log(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed smoke test after a good deploy exits 3 and shows the diff, task id and log tail."""
    tests = [
        PASSING,
        {"name": "value", "payload": {"value": 2}, "output": {"equals": {"version": 1}}},
        {"name": "no-traceback", "payload": {"fail": True}, "log": {"not_contains": "Traceback"}},
        {"name": "crash", "payload": {"crash": True}},
    ]
    setup(project, {"w": {"smoke": tests}})
    run = cli(capsys, "apply", "-y", "--smoke")
    assert run.code == 3, run.err
    assert "created" in run.out  # the deploy itself succeeded
    assert "Smoke: 1 passed, 3 failed." in run.out
    assert "FAIL w / value" in run.out
    assert "output does not equal the expected value" in run.out
    assert "--- expected" in run.out and "+++ received" in run.out
    assert '+  "value": 2,' in run.out  # the received side of the JSON diff
    assert "FAIL w / no-traceback" in run.out
    assert "expected status 'complete', got 'error'" in run.out
    assert "log contains 'Traceback' (line 2:" in run.out
    assert "log tail (last 2 lines):" in run.out
    # A traceback as the task's msg is cut to its last line; the log tail holds the rest.
    assert "got 'error' (task msg: RuntimeError: crashed on purpose)\n" in run.out
    assert '|     raise RuntimeError("crashed on purpose")' in run.out
    assert "| hello from version 1" in run.out
    task_ids = [t.id for t in project.client.list_tasks("w")]
    assert any(f"task: {task_id} (status complete)" in run.out for task_id in task_ids)
    assert any(f"task: {task_id} (status error)" in run.out for task_id in task_ids)
    assert "smoke test(s) failed" in run.err


def test_ironship_test_runs_against_what_is_deployed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ironship test [WORKER]` checks the deployed code, not local edits; a failure exits 3."""
    setup(project, {"a": {"smoke": [PASSING]}, "b": {"smoke": [PASSING]}})
    assert cli(capsys, "apply", "-y").code == 0

    every = cli(capsys, "test")
    assert every.code == 0, every.err
    assert "Smoke: 2 passed, 0 failed." in every.out
    one = cli(capsys, "test", "b", "--json")
    assert one.code == 0
    assert [(r["worker"], r["passed"]) for r in one.json()["results"]] == [("b", True)]

    write_worker(project.dir, "a", version=2)  # not deployed: the test still sees version 1
    assert cli(capsys, "test", "a").code == 0
    v2 = {"name": "is-v2", "output": {"subset": {"version": 2}}}
    write_manifest(project.dir, {"a": {"smoke": [v2]}, "b": {"smoke": [PASSING]}})
    failing = cli(capsys, "test", "a")
    assert failing.code == 3
    assert "FAIL a / is-v2" in failing.out
    assert "$.version: expected 2, got 1" in failing.out

    unknown = cli(capsys, "test", "nope")
    assert unknown.code == 1
    assert "no worker named 'nope'" in unknown.err


def test_junit_report_parses_with_junitparser(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--junit writes XML that junitparser reads: suites per worker, counts, names and messages."""
    failing = {"name": "wrong-version", "output": {"equals": {"version": 9}}}
    setup(project, {"a": {"smoke": [PASSING, failing]}, "b": {"smoke": [PASSING]}})
    assert cli(capsys, "apply", "-y").code == 0
    report = project.dir / "reports" / "smoke.xml"
    run = cli(capsys, "test", "--junit", str(report))
    assert run.code == 3

    xml = JUnitXml.fromfile(str(report))
    suites = {suite.name: suite for suite in xml}
    assert sorted(suites) == ["a", "b"]
    assert (xml.tests, xml.failures, xml.errors) == (3, 1, 0)
    assert (suites["a"].tests, suites["a"].failures) == (2, 1)
    cases = {case.name: case for case in suites["a"]}
    assert sorted(cases) == ["is-v1", "wrong-version"]
    assert cases["is-v1"].is_passed
    (failure,) = cases["wrong-version"].result
    assert isinstance(failure, JUnitFailure)
    assert failure.message == "output does not equal the expected value"
    assert "--- expected" in (failure.text or "")
    assert [case.name for case in suites["b"]] == ["is-v1"]

    apply_report = project.dir / "apply.xml"
    write_worker(project.dir, "b", version=2)
    applied = cli(capsys, "apply", "-y", "--smoke", "--junit", str(apply_report))
    assert applied.code == 3
    assert JUnitXml.fromfile(str(apply_report)).failures == 1  # b is now version 2


def test_junit_into_a_folder_is_refused_before_anything_runs(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--junit DIR` fails at once, clearly: apply deploys nothing and test queues nothing."""
    setup(project, {"w": {"smoke": [PASSING]}})
    (project.dir / "reports").mkdir()
    applied = cli(capsys, "apply", "-y", "--smoke=all", "--junit", "reports")
    assert applied.code == 1
    assert "--junit reports: is a folder; it needs a file name" in applied.err
    assert "internal error" not in applied.err
    assert project.client.list_codes() == []

    assert cli(capsys, "apply", "-y").code == 0
    tested = cli(capsys, "test", "--junit", "reports")
    assert tested.code == 1
    assert "--junit reports: is a folder; it needs a file name" in tested.err
    assert project.client.list_tasks("w") == []


def test_json_output_is_only_json_with_a_smoke_section(project: Project) -> None:
    """In a real process, --json on apply and test prints nothing but one JSON document."""
    setup(project, {"w": {"smoke": [PASSING, {"name": "bad", "output": {"contains": "nope"}}]}})
    env = dict(os.environ, NO_COLOR="1")
    cmd = [sys.executable, "-m", "ironship"]
    applied = subprocess.run(
        [*cmd, "apply", "-y", "--smoke", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.dir,
        timeout=60,
        check=False,
    )
    assert applied.returncode == 3, applied.stderr
    doc = json.loads(applied.stdout)
    assert doc["format_version"] == "1"
    assert [r["outcome"] for r in doc["results"]] == ["created"]
    smoke = doc["smoke"]
    assert smoke["summary"] == {"total": 2, "passed": 1, "failed": 1}
    (bad,) = [r for r in smoke["results"] if not r["passed"]]
    assert bad["failures"][0]["message"] == "output does not contain 'nope'"
    assert bad["task_id"]

    tested = subprocess.run(
        [*cmd, "test", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project.dir,
        timeout=60,
        check=False,
    )
    assert tested.returncode == 3, tested.stderr
    assert json.loads(tested.stdout)["summary"] == {"total": 2, "passed": 1, "failed": 1}


SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"


def test_ctrl_c_ends_ironship_test_at_once_and_cancels_its_task(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGINT to ``ironship test`` (a real process) while its smoke test waits on a running
    task: "interrupted", exit 130, without waiting for the test's timeout (900 s), and the
    task it queued is cancelled, not left running on the server."""
    (project.dir / "workers" / "slow").mkdir(parents=True)
    (project.dir / "workers" / "slow" / "main.py").write_text(SLEEPER, encoding="utf-8")
    write_manifest(project.dir, {"slow": {"smoke": [{"name": "waits", "timeout": 900}]}})
    assert cli(capsys, "apply", "-y").code == 0
    with (
        subprocess.Popen(
            [sys.executable, "-m", "ironship", "test"],
            cwd=project.dir,
            env=dict(os.environ, NO_COLOR="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc,
        killed_at_end(proc),
    ):
        running: list[str] = []
        for _ in range(600):
            running = [t.id for t in project.client.list_tasks("slow", ("running",))]
            if running:
                break
            time.sleep(0.05)
        assert running, "the smoke test's task never ran"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert project.client.get_task(running[0]).status == "cancelled"


def test_rollback_on_failure_restores_the_previous_checksum_as_a_new_revision(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rollback-on-failure re-uploads the old package; workers it created are left as they are."""
    setup(project, {"w": {"smoke": [PASSING]}})
    assert cli(capsys, "apply", "-y", "--smoke").code == 0
    v1 = project.code("w")
    assert v1.rev == 2 and v1.latest_checksum  # the upload, then the recorded smoke pass

    write_worker(project.dir, "w", version=2)  # breaks is-v1
    write_worker(project.dir, "fresh", version=2)
    write_manifest(project.dir, {"w": {"smoke": [PASSING]}, "fresh": {"smoke": [PASSING]}})
    run = cli(capsys, "apply", "-y", "--smoke", "--rollback-on-failure")
    assert run.code == 3, run.err
    assert "w: rolled back to revision 2 (uploaded again as revision 4)" in run.out
    assert "fresh: created by this apply; no earlier revision to restore (left as is)" in run.out

    after = project.code("w")
    assert after.id == v1.id
    assert after.latest_checksum == v1.latest_checksum
    assert after.rev == 4  # v1, its smoke pass, v2, then the rollback as a revision of its own
    assert after.env_vars == v1.env_vars  # the old stamps too, so plan sees the local change
    assert [r.rev for r in project.client.list_revisions(v1.id)] == [4, 3, 2, 1]
    assert project.code("fresh").rev == 1

    plan = cli(capsys, "plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "~ w: update (code)" in plan.out
    assert "~ main.py" in plan.out
    assert "fresh" not in plan.out
    assert cli(capsys, "test", "w").code == 0  # version 1 answers again


def test_rollback_of_a_settings_only_change_restores_the_old_settings(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rolling back a config/env change removes a config the failed apply added, env included."""
    mode_is_unset = {"name": "mode", "output": {"subset": {"mode": None}}}
    setup(project, {"w": {"env": {"LEVEL": "1"}, "smoke": [mode_is_unset]}})
    assert cli(capsys, "apply", "-y").code == 0
    v1 = project.code("w")
    assert v1.config is None

    broken = {"env": {"LEVEL": "2"}, "config": {"mode": "broken"}, "smoke": [mode_is_unset]}
    write_manifest(project.dir, {"w": broken})
    run = cli(capsys, "apply", "-y", "--smoke", "--rollback-on-failure", "--json")
    assert run.code == 3, run.err
    doc = run.json()
    assert doc["results"][0]["code_uploaded"] is False
    assert doc["smoke"]["rollback"] == {
        "w": "rolled back to revision 1 (uploaded again as revision 3)"
    }
    after = project.code("w")
    assert (after.rev, after.config, after.env_vars) == (3, None, v1.env_vars)
    assert after.latest_checksum == v1.latest_checksum


def test_names_are_shown_verbatim_and_an_unchanged_apply_has_nothing_to_roll_back(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Brackets in a test name are not read as styles; --smoke=all with no change rolls nothing."""
    odd = {"name": "output [json] is [/b] fine", "output": {"contains": "absent"}}
    setup(project, {"w": {"smoke": [odd]}})
    assert cli(capsys, "apply", "-y").code == 0
    run = cli(capsys, "apply", "-y", "--smoke=all", "--rollback-on-failure")
    assert run.code == 3, run.out + run.err
    assert "FAIL w / output [json] is [/b] fine" in run.out
    assert "FAIL w / output [json] is [/b] fine" in run.err  # the progress line
    assert "output [json] is [/b] fine" in run.out.split("FAIL w /")[0]  # the table
    assert "nothing to roll back: this apply changed no worker" in run.out
    assert project.code("w").rev == 1


def test_never_started_task_fails_with_that_reason_within_its_timeout(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A test whose task sits in a paused queue fails as "never started" instead of hanging."""
    setup(project, {"w": {"smoke": [{**PASSING, "timeout": 1}]}})
    assert cli(capsys, "apply", "-y").code == 0
    project.client.pause_queue(project.code("w").id)
    run = cli(capsys, "test", "--json")
    assert run.code == 3
    (result,) = run.json()["results"]
    assert result["status"] == "queued"
    assert result["reason"].startswith("task never started: still queued after 1s")
    assert project.client.get_task(result["task_id"]).status == "cancelled"


def test_example_manifest_smoke_tests_pass(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped examples/ironship.yml deploys and passes its own smoke tests."""
    shutil.copytree(
        REPO / "examples", project.dir / "examples", ignore=shutil.ignore_patterns(".*")
    )
    manifest = project.dir / "examples" / "ironship.yml"
    run = cli(capsys, "apply", "-f", str(manifest), "-y", "--smoke=all", "--json")
    results = {f"{r['worker']}/{r['test']}": r for r in run.json()["smoke"]["results"]}
    assert sorted(results) == [
        "fib-php/first-hundred",
        "fib-php/rejects-non-numbers",
        "fib-php/up-to-a-thousand",
        "fib/first-hundred",
        "fib/rejects-non-numbers",
        "fib/up-to-a-thousand",
    ]
    python_results = [r for name, r in results.items() if name.startswith("fib/")]
    assert all(r["passed"] for r in python_results), python_results
    if shutil.which("php") is None:
        pytest.skip("php is not installed: the fib-php worker's expectations were not checked")
    php_results = [r for name, r in results.items() if name.startswith("fib-php/")]
    assert all(r["passed"] for r in php_results), php_results
    assert run.code == 0
    # Every worker whose tests all passed has the pass recorded on the server (for promote).
    assert sorted(run.json()["smoke"]["recorded"]) == ["fib", "fib-php"]
