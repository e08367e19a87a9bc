"""Every runtime runs unchanged IronWorker workers: the helpers, the task directory as cwd,
``__runner__.sh`` packages and dependencies vendored inside the package.

Each test runs a real worker through ``runner.start`` (docs/ironworker-api.md §6 (Worker
runtime contract)); the node and ruby ones need those programs, which CI installs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from engine_helpers import make_spec, run_task

NODE = shutil.which("node") or shutil.which("nodejs")
RUBY = shutil.which("ruby")
CC = shutil.which("cc") or shutil.which("gcc")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_ruby = pytest.mark.skipif(RUBY is None, reason="ruby is not installed (CI installs it)")

PAYLOAD = '{"name": "iron", "n": [1, 2]}'
CONFIG = '{"db": "postgres://x"}'

NODE_HELPER_WORKER = """
var worker = require('node_helper');
console.log(JSON.stringify({
  params: worker.params, config: worker.config, task_id: worker.task_id, cwd: process.cwd()
}));
"""

RUBY_HELPER_WORKER = """
require 'json'
puts JSON.generate(
  'payload' => payload,
  'params' => params,
  'symbol' => params[:name],
  'dig' => params.dig(:n, 1),
  'config' => config,
  'task_id' => iron_task_id,
  'cwd' => Dir.pwd
)
"""

# What iron_worker_ng and the Node client upload: a shell runner that changes nothing and
# hands every argument on.
RUNNER_ARGS = 'echo "cwd=$(pwd)"\necho "argc=$#"\nfor a in "$@"; do echo "arg=$a"; done\n'


def task_dir_of(tmp_path: Path, task_id: str) -> str:
    return str((tmp_path / "work" / task_id).absolute())


@needs_node
def test_node_helper_gives_params_config_and_task_id(tmp_path: Path) -> None:
    """require('node_helper') gives the parsed payload, the parsed config and the task id."""
    spec = make_spec(
        tmp_path, {"w.js": NODE_HELPER_WORKER}, "w.js", "node", payload=PAYLOAD, config=CONFIG
    )
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert json.loads(log) == {
        "params": {"name": "iron", "n": [1, 2]},
        "config": {"db": "postgres://x"},
        "task_id": spec.task_id,
        "cwd": task_dir_of(tmp_path, spec.task_id),
    }


@needs_node
def test_node_helper_hands_over_a_payload_that_is_not_json_as_the_string(
    tmp_path: Path,
) -> None:
    """A payload that is not JSON reaches node_helper's params as the string itself."""
    spec = make_spec(tmp_path, {"w.js": NODE_HELPER_WORKER}, "w.js", "node", payload="plain")
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert json.loads(log)["params"] == "plain"
    assert json.loads(log)["config"] is None


@needs_node
def test_a_node_helper_shipped_in_the_package_wins(tmp_path: Path) -> None:
    """The package's own node_modules/node_helper.js (the official client's) is used first."""
    files = {
        "w.js": "console.log(require('node_helper').origin);\n",
        "node_modules/node_helper.js": "exports.origin = 'from the package';\n",
    }
    result, log = run_task(make_spec(tmp_path, files, "w.js", "node"))
    assert result.status == "complete", result.msg
    assert log.strip() == "from the package"


@needs_node
def test_node_worker_uses_its_vendored_dependency(tmp_path: Path) -> None:
    """A node worker requires a package from node_modules/ inside its own package."""
    files = {
        "w.js": (
            "var dep = require('dep');\n"
            "console.log(dep.shout(require('node_helper').params.name));\n"
        ),
        "node_modules/dep/package.json": '{"name": "dep", "version": "1.0.0"}',
        "node_modules/dep/index.js": "exports.shout = function (s) { return s + '!'; };\n",
    }
    result, log = run_task(make_spec(tmp_path, files, "w.js", "node", payload=PAYLOAD))
    assert result.status == "complete", result.msg
    assert log.strip() == "iron!"


@needs_ruby
def test_ruby_helpers_give_payload_params_config_and_task_id(tmp_path: Path) -> None:
    """payload is the raw string, params and config are parsed (symbol keys work too), and
    iron_task_id is the task id, as IronWorker's Ruby runner defined them."""
    spec = make_spec(
        tmp_path, {"w.rb": RUBY_HELPER_WORKER}, "w.rb", "ruby", payload=PAYLOAD, config=CONFIG
    )
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert json.loads(log) == {
        "payload": PAYLOAD,
        "params": {"name": "iron", "n": [1, 2]},
        "symbol": "iron",
        "dig": 2,
        "config": {"db": "postgres://x"},
        "task_id": spec.task_id,
        "cwd": task_dir_of(tmp_path, spec.task_id),
    }


@needs_ruby
def test_ruby_params_of_a_payload_that_is_not_json_is_the_string(tmp_path: Path) -> None:
    """A payload that is not JSON is the string in both payload and params; no config: nil."""
    worker = "require 'json'\nputs JSON.generate([payload, params, config])\n"
    result, log = run_task(make_spec(tmp_path, {"w.rb": worker}, "w.rb", "ruby", payload="hi"))
    assert result.status == "complete", result.msg
    assert json.loads(log) == ["hi", "hi", None]


@needs_ruby
def test_ruby_worker_uses_its_vendored_library(tmp_path: Path) -> None:
    """A ruby worker requires a library shipped in its package, relative to the task dir."""
    files = {
        "w.rb": "require_relative 'vendor/greeter'\nputs Greeter.greet(params['name'])\n",
        "vendor/greeter.rb": 'module Greeter\n  def self.greet(n) = "hello #{n}"\nend\n',
    }
    result, log = run_task(make_spec(tmp_path, files, "w.rb", "ruby", payload=PAYLOAD))
    assert result.status == "complete", result.msg
    assert log.strip() == "hello iron"


def test_runner_sh_runs_with_sh_in_the_task_dir_with_every_argument(tmp_path: Path) -> None:
    """A __runner__.sh package (runtime sh) runs in the task dir and gets all arguments."""
    spec = make_spec(tmp_path, {"__runner__.sh": RUNNER_ARGS}, "__runner__.sh", "sh", config=CONFIG)
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    task_dir = task_dir_of(tmp_path, spec.task_id)
    lines = log.splitlines()
    assert lines[0] == f"cwd={task_dir}"
    args = [line.removeprefix("arg=") for line in lines[2:]]
    assert lines[1] == f"argc={len(args)}"
    pairs = dict(zip(args[0::2], args[1::2], strict=True))
    assert pairs["-d"] == task_dir and pairs["-id"] == spec.task_id
    assert set(pairs) == {"-payload", "-config", "-id", "-d"}


def test_python_runner_puts_vendored_pips_on_pythonpath(tmp_path: Path) -> None:
    """A __runner__.sh setting PYTHONPATH=__pips__ lets the worker import its vendored module,
    and runs it as IronWorker's runner does, with ``python`` (there even when PATH has none)."""
    files = {
        "__runner__.sh": (
            'cd "$(dirname "$0")"\n'
            'PYTHONPATH="$PWD/__pips__${PYTHONPATH:+:$PYTHONPATH}" exec python -u worker.py "$@"\n'
        ),
        "worker.py": (
            "import sys, mod\n"
            "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
            "print(mod.greet(open(args['-payload']).read()))\n"
        ),
        "__pips__/mod.py": "def greet(text):\n    return 'vendored says ' + text\n",
    }
    result, log = run_task(make_spec(tmp_path, files, "__runner__.sh", "sh", payload="hi"))
    assert result.status == "complete", result.msg
    assert log.strip() == "vendored says hi"


@needs_node
def test_node_under_a_runner_still_gets_node_helper(tmp_path: Path) -> None:
    """A node worker started by a __runner__.sh (as the Node client uploads it) finds
    node_helper and its vendored dependency."""
    files = {
        "__runner__.sh": 'node w.js "$@"\n',
        "w.js": "console.log(require('dep').v + ':' + require('node_helper').params.name);\n",
        "node_modules/dep/index.js": "exports.v = 'dep1';\n",
    }
    result, log = run_task(make_spec(tmp_path, files, "__runner__.sh", "sh", payload=PAYLOAD))
    assert result.status == "complete", result.msg
    assert log.strip() == "dep1:iron"


@needs_ruby
def test_ruby_under_a_runner_still_gets_its_helpers(tmp_path: Path) -> None:
    """A ruby worker started by a __runner__.sh gets params and iron_task_id (via RUBYOPT)."""
    files = {
        "__runner__.sh": 'exec ruby w.rb "$@"\n',
        "w.rb": "puts \"#{params['name']} #{iron_task_id}\"\n",
    }
    spec = make_spec(tmp_path, files, "__runner__.sh", "sh", payload=PAYLOAD)
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.strip() == f"iron {spec.task_id}"


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_binary_runtime_runs_a_compiled_program(tmp_path: Path) -> None:
    """A compiled C program (runtime binary) runs in the task dir and reads PAYLOAD_FILE."""
    source = tmp_path / "worker.c"
    source.write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
        "int main(int argc, char **argv) {\n"
        "  char buf[256]; char cwd[512];\n"
        '  FILE *f = fopen(getenv("PAYLOAD_FILE"), "r");\n'
        "  size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0;\n"
        '  printf("payload=%s argc=%d cwd=%s\\n", buf, argc, getcwd(cwd, sizeof cwd));\n'
        "  return 0;\n}\n"
    )
    binary = tmp_path / "worker"
    assert CC is not None
    subprocess.run([CC, "-o", str(binary), str(source)], check=True)
    files = {"bin/worker": binary.read_bytes()}
    spec = make_spec(tmp_path, files, "bin/worker", "binary", payload="compiled")
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.strip() == f"payload=compiled argc=7 cwd={task_dir_of(tmp_path, spec.task_id)}"


def test_sh_worker_reads_its_payload_and_runs_in_the_task_dir(tmp_path: Path) -> None:
    """An sh worker reads PAYLOAD_FILE and runs with the task dir as its cwd."""
    worker = 'echo "$(cat "$PAYLOAD_FILE") from $(pwd)"\n'
    spec = make_spec(tmp_path, {"w.sh": worker}, "w.sh", "sh", payload="shell payload")
    result, log = run_task(spec)
    assert result.status == "complete", result.msg
    assert log.strip() == f"shell payload from {task_dir_of(tmp_path, spec.task_id)}"


def test_runner_calling_python_works_without_python_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IronWorker's runners call ``python``: the task's PATH provides it when the machine's
    PATH has no program by that name."""
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    monkeypatch.setenv("PATH", str(bare))
    files = {"__runner__.sh": "exec python -c 'import sys; print(sys.version_info[0])'\n"}
    result, log = run_task(make_spec(tmp_path, files, "__runner__.sh", "sh"))
    assert result.status == "complete", result.msg
    assert log.strip() == "3"
