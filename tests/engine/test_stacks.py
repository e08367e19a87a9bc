"""Stacks: a code's ``stack`` picks the interpreter version that runs its tasks, or fails the
task saying what is installed; ``GET /2/stacks`` lists what the engine can run.

Interpreters of versions this machine may not have are stand-ins: shell scripts that answer
``--version`` like the real program and otherwise report how they were started.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from engine_helpers import Api, make_spec, make_zip, run_task

from ironship.engine.run import stacks
from ironship.engine.run.runtimes import available
from ironship.engine.run.stacks import StackUnavailable, parse_stack

OWN = f"{sys.version_info[0]}.{sys.version_info[1]}"
NODE = shutil.which("node")


def stand_in(folder: Path, name: str, says: str) -> Path:
    """An executable ``folder/name`` answering ``--version`` with ``says``, else naming itself."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "{says}"; exit 0; fi\n'
        f'echo "{name} ran $1"\n'
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH = a folder of stand-ins (python 3.12 and 3.9, node 18) in front of /bin:/usr/bin."""
    folder = tmp_path / "fakebin"
    stand_in(folder, "python3.12", "Python 3.12.9")
    stand_in(folder, "python3.9", "Python 3.9.1")
    stand_in(folder, "node", "v18.19.0")
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return folder


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("python-3.11", ("python", (3, 11))),
        ("node-20", ("node", (20,))),
        ("ruby-3.1", ("ruby", (3, 1))),
        ("PHP-8.2", ("php", (8, 2))),
        ("nodejs-18.4.1", ("node", (18, 4, 1))),
    ],
)
def test_parse_stack(stack: str, expected: tuple[str, tuple[int, ...]]) -> None:
    """A stack is LANGUAGE-VERSION with any number of version parts."""
    assert parse_stack(stack) == expected


def test_malformed_and_unsupported_stacks_are_refused_clearly() -> None:
    """A stack that is no stack name, or a language the engine does not run, says so."""
    with pytest.raises(StackUnavailable, match=r"'python3\.11' is not a stack name.*python-3\.11"):
        parse_stack("python3.11")
    with pytest.raises(StackUnavailable, match=r"'java-1\.8' is not supported.*python, node"):
        parse_stack("java-1.8")


def test_stack_picks_the_interpreter_of_that_version(tmp_path: Path, fake_path: Path) -> None:
    """stack python-3.12 runs the worker with the python3.12 on PATH, not another python."""
    spec = make_spec(tmp_path, {"w.py": ""}, "w.py", stack="python-3.12")
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.strip() == "python3.12 ran -u"


def test_stack_of_the_engines_own_python_runs_on_it(tmp_path: Path) -> None:
    """A stack naming the engine's own Python version runs the worker on that version."""
    worker = "import sys\nprint('%d.%d' % sys.version_info[:2])\n"
    result, log = run_task(make_spec(tmp_path, {"w.py": worker}, "w.py", stack=f"python-{OWN}"))
    assert result.status == "complete", result.msg
    assert log.strip() == OWN


def test_missing_stack_fails_naming_the_stack_and_what_is_installed(
    tmp_path: Path, fake_path: Path
) -> None:
    """A stack with no interpreter of its version fails before anything runs, and the msg
    lists the versions this engine has."""
    result, log = run_task(make_spec(tmp_path, {"w.py": ""}, "w.py", stack="python-2.6"))
    assert result.status == "error" and result.exit_code is None
    assert result.msg is not None
    assert result.msg.startswith("stack 'python-2.6' is not available on this engine (installed:")
    assert f"python 3.12.9 ({fake_path / 'python3.12'})" in result.msg
    assert f"python 3.9.1 ({fake_path / 'python3.9'})" in result.msg
    assert f"python {OWN}." in result.msg  # the engine's own interpreter
    assert log == ""


def test_missing_node_stack_names_the_installed_node(tmp_path: Path, fake_path: Path) -> None:
    """node-7 fails naming the node versions found (the stand-in node 18 among them)."""
    result, _ = run_task(make_spec(tmp_path, {"w.js": ""}, "w.js", "node", stack="node-7"))
    assert result.status == "error"
    assert result.msg is not None
    assert "stack 'node-7' is not available" in result.msg
    assert f"node 18.19.0 ({fake_path / 'node'})" in result.msg


def test_a_stack_of_another_language_than_the_runtime_is_refused(tmp_path: Path) -> None:
    """runtime node with a python stack fails with a msg saying they do not fit."""
    spec = make_spec(tmp_path, {"w.js": ""}, "w.js", "node", stack=f"python-{OWN}")
    result, _ = run_task(spec)
    assert result.status == "error"
    assert result.msg == (
        f"stack 'python-{OWN}' does not fit runtime 'node': use a node stack, "
        "or runtime sh with a runner script"
    )


def test_a_runner_script_calls_the_stacks_interpreter_by_its_usual_names(
    tmp_path: Path, fake_path: Path
) -> None:
    """Under runtime sh, ``python``, ``python3`` and ``python3.12`` in a __runner__.sh are the
    interpreter the stack names."""
    runner = "python first\npython3 second\npython3.12 third\n"
    spec = make_spec(
        tmp_path, {"__runner__.sh": runner}, "__runner__.sh", "sh", stack="python-3.12"
    )
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.splitlines() == [
        "python3.12 ran first",
        "python3.12 ran second",
        "python3.12 ran third",
    ]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_stack_of_the_installed_major_runs(tmp_path: Path) -> None:
    """node-MAJOR of the installed node runs the worker on it."""
    assert NODE is not None
    major = stacks.probe(NODE)
    assert major is not None
    worker = "console.log(process.versions.node.split('.')[0]);\n"
    spec = make_spec(tmp_path, {"w.js": worker}, "w.js", "node", stack=f"node-{major[0]}")
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.strip() == str(major[0])


def test_available_lists_runtimes_and_the_stacks_found(fake_path: Path) -> None:
    """What GET /2/stacks answers: the runtimes, then one stack per interpreter version."""
    names = available()
    assert {"python", "sh", "binary", "node"} <= set(names)
    assert {"python-3.12", "python-3.9", f"python-{OWN}", "node-18"} <= set(names)
    assert names == sorted(names)


def test_version_managers_shims_are_not_taken_for_interpreters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 'shims' folder (pyenv, rbenv) says nothing about what is installed: it is skipped."""
    stand_in(tmp_path / "shims", "python3.8", "Python 3.8.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'shims'}:/usr/bin:/bin")
    assert "python-3.8" not in available()


def test_engine_records_the_stack_and_runs_with_it(api: Api, name: str) -> None:
    """An uploaded stack shows on the code; its task runs on that version, and a stack the
    engine lacks fails the task with a msg (also in the log)."""
    worker = "import sys\nprint('%d.%d' % sys.version_info[:2])\n"
    data = {"name": name, "runtime": "python", "file_name": "w.py", "stack": f"python-{OWN}"}
    r = api.upload_raw(data, make_zip({"w.py": worker}))
    assert r.status_code == 200
    assert api.ok("GET", f"/codes/{r.json()['id']}")["stack"] == f"python-{OWN}"
    task = api.wait(api.queue(name, {}))
    assert task["status"] == "complete", task
    assert api.log(task["id"]).strip() == OWN

    api.upload_raw({**data, "stack": "python-2.6"}, make_zip({"w.py": worker}))
    failed = api.wait(api.queue(name, {}))
    assert failed["status"] == "error"
    assert failed["msg"].startswith("stack 'python-2.6' is not available on this engine")
    assert "stack 'python-2.6' is not available" in api.log(failed["id"])


def test_get_stacks_lists_the_engines_own_python_stack(api: Api) -> None:
    """GET /2/stacks is a JSON array with the runtimes and the engine's own python stack."""
    r = api.session.get(f"{api.url}/2/stacks", timeout=30)
    assert r.status_code == 200
    names = json.loads(r.text)
    assert {"python", "sh", "binary"} <= set(names) and f"python-{OWN}" in names
