"""ironship run: a worker from the working tree, run here exactly as the engine runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import Cli, Project, killed_at_end, write_tree
from deploy.wheelhouse import isolate_pip, wheel
from engine_helpers import Api, processes_with_arg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def engine_exit_code(task: dict[str, object]) -> int:
    """The exit code the engine recorded: 0 when complete, N from "Process Exit N"."""
    if task["status"] == "complete":
        return 0
    error_class = str(task.get("error_class") or "")
    assert error_class.startswith("Process Exit "), task
    return int(error_class.removeprefix("Process Exit "))


@pytest.fixture
def cli(project: Project, tmp_path: Path, project_cli: Cli) -> Cli:
    """`ironship ARGS` in tmp_path, on this test's own engine project."""

    return project_cli


def on_engine(api: Api, worker: str, payload: str) -> tuple[str, int]:
    """Queue a task of the deployed ``worker``; its log and exit code."""
    task = api.wait(api.queue(worker, json.loads(payload)))
    return api.log(str(task["id"])), engine_exit_code(task)


@pytest.mark.parametrize("worker", ["fib", "fib-php"])
def test_run_and_the_engine_agree_on_the_examples(
    worker: str, cli: Cli, project: Project, tmp_path: Path
) -> None:
    """For each example worker and payload, run prints exactly the log a task on the engine
    writes, and exits with the exit code the engine records."""
    shutil.copytree(EXAMPLES, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
    assert cli("apply", "-y").code == 0
    api = Api(project.url, project.project_id, project.token)
    for payload in ('{"max": 100}', '{"max": 1000}', '{"max": "lots"}'):
        local = cli("run", worker, "--payload", payload)
        log, code = on_engine(api, worker, payload)
        assert local.out == log, payload
        assert local.code == code, (payload, local.err)
    assert code == 1  # the last payload is refused by both


ENV_WORKER = """\
import json, os, sys
args = sys.argv[1:]
flags = args[0::2]
files = dict(zip(flags, args[1::2]))
print(json.dumps({
    "flags": flags,
    "env": sorted(os.environ),
    "greeting": os.environ["GREETING"],
    "payload": json.load(open(files["-payload"])),
    "config": json.load(open(files["-config"])),
    "in_task_dir": os.getcwd() == files["-d"] == os.environ["TASK_DIR"],
    "task_id": files["-id"] == os.environ["TASK_ID"],
}, sort_keys=True))
sys.exit(int(os.environ.get("EXIT", "0")))
"""
ENV_MANIFEST = """\
version: 1
workers:
  env:
    root: w
    entry: main.py
    payload: {n: 1, keep: yes}
    config: {db: local, depth: 2}
    env: {GREETING: hello}
  bad:
    root: w
    entry: main.py
    config: {}
    env: {GREETING: bye, EXIT: "3"}
"""


def test_the_worker_sees_what_an_engine_task_sees(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """Arguments, environment variable names, payload, config and task directory are the
    same in a local run as in an engine task of the deployed worker."""
    write_tree(tmp_path, {"ironship.yml": ENV_MANIFEST, "w/main.py": ENV_WORKER})
    assert cli("apply", "-y").code == 0
    api = Api(project.url, project.project_id, project.token)
    local = cli("run", "env", "--payload", '{"n": 2}')
    assert local.code == 0, local.err
    log, code = on_engine(api, "env", '{"n": 2, "keep": true}')
    assert code == 0
    assert json.loads(local.out) == json.loads(log)
    seen = json.loads(local.out)
    assert seen["flags"] == ["-payload", "-config", "-id", "-d"]
    assert seen["payload"] == {"n": 2, "keep": True}  # --payload merged over the default
    assert seen["config"] == {"db": "local", "depth": 2}
    assert seen["in_task_dir"] and seen["task_id"]
    assert {"IRONSHIP_DIGEST", "IRONSHIP_FILES", "PAYLOAD_FILE", "CONFIG_FILE"} <= set(seen["env"])


def test_config_is_merged_over_the_workers(cli: Cli, tmp_path: Path) -> None:
    """--config JSON and --config @FILE merge over the manifest's config."""
    write_tree(tmp_path, {"ironship.yml": ENV_MANIFEST, "w/main.py": ENV_WORKER, "c.json": "{}"})
    (tmp_path / "c.json").write_text('{"depth": 5}')
    inline = cli("run", "env", "--config", '{"db": "test"}')
    from_file = cli("run", "env", "--config", "@c.json")
    assert json.loads(inline.out)["config"] == {"db": "test", "depth": 2}
    assert json.loads(from_file.out)["config"] == {"db": "local", "depth": 5}


def test_an_erroring_worker_exit_code_propagates(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A worker that exits 3 makes run exit 3, as the engine records "Process Exit 3"."""
    write_tree(tmp_path, {"ironship.yml": ENV_MANIFEST, "w/main.py": ENV_WORKER})
    assert cli("apply", "-y").code == 0
    local = cli("run", "bad")
    assert local.code == 3
    assert "bad: error, exit code 3" in local.err
    api = Api(project.url, project.project_id, project.token)
    log, code = on_engine(api, "bad", "{}")
    assert code == 3 and json.loads(log) == json.loads(local.out)


def test_run_leaves_no_scratch_behind(cli: Cli, tmp_path: Path) -> None:
    """The package, the task directory and the log live under .ironship/build/ only while
    the run lasts."""
    write_tree(tmp_path, {"ironship.yml": ENV_MANIFEST, "w/main.py": ENV_WORKER})
    assert cli("run", "env").code == 0
    build = tmp_path / ".ironship" / "build"
    assert build.is_dir() and list(build.iterdir()) == []


def test_bad_input_is_refused_with_a_located_message(cli: Cli, tmp_path: Path) -> None:
    """An unknown worker, bad --config JSON and a missing @FILE: exit 1, a hint, no trace."""
    write_tree(tmp_path, {"ironship.yml": ENV_MANIFEST, "w/main.py": ENV_WORKER})
    unknown = cli("run", "nope")
    assert unknown.code == 1 and "no worker named 'nope'" in unknown.err
    assert "hint: workers in this manifest: bad, env" in unknown.err
    bad_json = cli("run", "env", "--config", "{db:")
    assert bad_json.code == 1 and "--config: not valid JSON" in bad_json.err
    missing = cli("run", "env", "--config", "@nowhere.json")
    assert missing.code == 1 and "--config @nowhere.json: cannot read the file" in missing.err
    mixed = cli("run", "env", "--smoke", "--payload", "{}")
    assert mixed.code == 1 and "do not apply to --smoke" in mixed.err
    for res in (unknown, bad_json, missing, mixed):
        assert "Traceback" not in res.err and "internal error" not in res.err


def test_smoke_runs_the_tests_here_and_reports_as_test(cli: Cli, tmp_path: Path) -> None:
    """run --smoke passes the examples' tests with no engine; a broken worker fails them
    with exit code 3 and the same report ironship test prints (JUnit too)."""
    shutil.copytree(EXAMPLES, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
    good = cli("run", "fib", "--smoke")
    assert good.code == 0, good.out + good.err
    assert "Smoke: 3 passed, 0 failed." in good.out
    assert not (tmp_path / ".ironship" / "engine").exists()  # no server was started
    fib = tmp_path / "workers" / "fib-python" / "fib.py"
    fib.write_text(fib.read_text().replace("seq.append(b)", "seq.append(b + 1)"))
    junit = tmp_path / "out" / "smoke.xml"
    bad = cli("run", "fib", "--smoke", "--junit", str(junit))
    assert bad.code == 3
    assert "Smoke: 1 passed, 2 failed." in bad.out
    assert "FAIL fib / first-hundred" in bad.err
    assert 'failures="2"' in junit.read_text()
    as_json = cli("run", "fib", "--smoke", "--json")
    doc = json.loads(as_json.out)
    assert as_json.code == 3 and [t["passed"] for t in doc["results"]] == [False, False, True]


SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"


def test_ctrl_c_stops_the_worker_and_cleans_up(tmp_path: Path) -> None:
    """SIGINT to a running `ironship run` (a real process) ends the worker's processes,
    removes the scratch folder and exits 130."""
    write_tree(tmp_path, {"ironship.yml": SLEEP_MANIFEST, "s/main.py": SLEEPER})
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON")}
    with (
        subprocess.Popen(
            [sys.executable, "-m", "ironship", "run", "sleeper"],
            cwd=tmp_path,
            env={**env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc,
        killed_at_end(proc),
    ):
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"started\n"
        task_id = proc.stderr.readline().decode().split("(task ")[1].rstrip(")\n")
        assert processes_with_arg(task_id)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    assert processes_with_arg(task_id) == []
    assert list((tmp_path / ".ironship" / "build").iterdir()) == []


SLEEP_MANIFEST = "version: 1\nworkers:\n  sleeper: {root: s, entry: main.py}\n"


DEPS_MAIN = "import tinypure\nprint('tinypure', tinypure.VERSION)\n"


def test_vendored_dependencies_are_in_the_local_run(
    cli: Cli, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker with requirements.txt imports its vendored package in a local run, through
    the same generated runner as its engine task, and prints the same."""
    isolate_pip(monkeypatch)
    links = tmp_path / "links"
    wheel(links, "tinypure", "1.0.0")
    write_tree(tmp_path, {"py/main.py": DEPS_MAIN, "py/requirements.txt": "tinypure==1.0.0\n"})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  py:\n    root: py\n    entry: main.py\n"
        "    requirements: requirements.txt\n    python: '3.11'\n"
        f"    pip_args: [--no-index, --find-links, {links}]\n"
    )
    local = cli("run", "py")
    assert local.code == 0, local.err
    assert local.out == "tinypure 1.0.0\n"
    assert cli("apply", "-y").code == 0
    log, code = on_engine(Api(project.url, project.project_id, project.token), "py", "{}")
    assert (log, code) == (local.out, 0)
