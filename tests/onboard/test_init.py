"""``ironship init``: an empty folder becomes a project whose smoke test passes on the engine
with nothing else typed; a folder of scripts gets one worker per entry, written only when
confirmed; an existing manifest or file is never overwritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from cli_support import Project, Run, run_cli, write_tree

from ironship.onboard.scaffold import SCAFFOLD_RUNTIMES, gitignore_text

TOOLS = {"php": "php", "node": "node", "ruby": "ruby"}


def init(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    env: dict[str, str] | None = None,
) -> Run:
    return run_cli(["init", *args], capsys, monkeypatch, env=env, cwd=tmp_path)


def test_init_then_apply_smoke_passes_on_the_local_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ironship init && ironship apply --smoke -y`` in an empty folder, with no credentials:
    the scaffold deploys to the in-process local engine and its smoke test passes."""
    made = init(tmp_path, capsys, monkeypatch)
    assert made.code == 0, made.err
    assert (tmp_path / "workers/hello/hello.py").is_file()
    assert ".ironship/" in (tmp_path / ".gitignore").read_text().splitlines()
    text = (tmp_path / "ironship.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=.ironship/ironship.schema.json\n")
    schema = json.loads((tmp_path / ".ironship/ironship.schema.json").read_text())
    assert schema["title"] == "ironship.yml"
    assert yaml.safe_load(text)["workers"]["hello"]["payload"] == {"name": "world"}
    assert run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path).code == 0
    applied = run_cli(["apply", "--smoke", "-y"], capsys, monkeypatch, cwd=tmp_path)
    assert applied.code == 0, applied.err
    assert "Smoke: 1 passed, 0 failed." in applied.out


@pytest.mark.parametrize("runtime", SCAFFOLD_RUNTIMES)
def test_each_runtime_scaffold_passes_its_smoke_test(
    runtime: str,
    tmp_path: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--runtime picks the scaffold's language; each reads its payload its runtime's way and
    passes its smoke test on the engine."""
    if runtime in TOOLS and shutil.which(TOOLS[runtime]) is None:
        pytest.skip(f"{TOOLS[runtime]} is not installed")
    made = init(tmp_path, capsys, monkeypatch, "--runtime", runtime, "--name", "greeter")
    assert made.code == 0, made.err
    spec = yaml.safe_load((tmp_path / "ironship.yml").read_text())["workers"]["greeter"]
    assert spec["runtime"] == runtime
    applied = run_cli(
        ["apply", "--smoke", "-y"], capsys, monkeypatch, env=project.env, cwd=tmp_path
    )
    assert applied.code == 0, applied.err
    assert "Smoke: 1 passed, 0 failed." in applied.out


SCRIPTS = {
    "workers/resize/resize.py": "import sys\nif __name__ == '__main__':\n    print(sys.argv)\n",
    "workers/resize/requirements.txt": "",
    "workers/resize/tests/test_resize.py": "def test_x():\n    pass\n",
    "workers/mailer/send.rb": "puts params['to']\n",
    "workers/mailer/Gemfile": "source 'https://rubygems.org'\n",
    "report.php": "<?php\n$p = getPayload();\necho json_encode($p);\n",
    "report_format.php": "<?php\nfunction fmt($x) { return $x; }\n",
    "nightly.sh": "#!/bin/sh\necho done\n",
    "thumbs/package.json": json.dumps({"name": "thumbs", "main": "index.js"}),
    "thumbs/index.js": "var w = require('node_helper');\nconsole.log(require('./size'));\n",
    "thumbs/size.js": "module.exports = function (p) { return p.payload; };\n",
    "lib/util.py": "def helper():\n    return 1\n",
    "old/legacy.worker": "runtime 'ruby'\nexec 'legacy.rb'\n",
}


def test_existing_scripts_get_one_worker_each_with_the_right_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries are proposed with their runtime, root, include and requirements; helpers,
    tests and libraries are not; a Gemfile without its lock and a .worker file are pointed
    out; without a terminal nothing is written until -y, and the result validates."""
    write_tree(tmp_path, SCRIPTS)
    asked = init(tmp_path, capsys, monkeypatch)
    assert asked.code == 1
    assert "needs confirmation" in asked.err and "-y" in asked.err
    assert not (tmp_path / "ironship.yml").exists()
    proposed = yaml.safe_load(asked.out)["workers"]
    assert proposed == {
        "nightly": {"entry": "nightly.sh", "runtime": "sh", "include": ["/nightly.sh"]},
        "report": {
            "entry": "report.php",
            "runtime": "php",
            "include": ["/report.php", "/report_format.php"],
        },
        "index": {"root": "thumbs", "entry": "index.js", "runtime": "node"},
        "send": {"root": "workers/mailer", "entry": "send.rb", "runtime": "ruby"},
        "resize": {
            "root": "workers/resize",
            "entry": "resize.py",
            "runtime": "python",
            "requirements": "requirements.txt",
        },
    }
    assert "workers/mailer/Gemfile has no Gemfile.lock beside it" in asked.err
    assert "'ironship import old/legacy.worker'" in asked.err

    (tmp_path / "workers/mailer/Gemfile").unlink()
    written = init(tmp_path, capsys, monkeypatch, "-y")
    assert written.code == 0, written.err
    assert yaml.safe_load((tmp_path / "ironship.yml").read_text())["workers"] == proposed
    assert run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path).code == 0


def test_an_existing_manifest_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ironship.yml present, init refuses (exit 1, a hint naming --print) and writes
    nothing; --print shows the proposal on stdout instead."""
    write_tree(tmp_path, {"ironship.yml": "# mine\n", "job.py": "print(open(PAYLOAD_FILE))\n"})
    refused = init(tmp_path, capsys, monkeypatch, "-y")
    assert refused.code == 1
    assert "ironship.yml already exists; init never overwrites a manifest" in refused.err
    assert "--print" in refused.err
    printed = init(tmp_path, capsys, monkeypatch, "--print")
    assert printed.code == 0, printed.err
    assert yaml.safe_load(printed.out)["workers"]["job"]["entry"] == "job.py"
    assert (tmp_path / "ironship.yml").read_text() == "# mine\n"
    assert not (tmp_path / ".gitignore").exists()


def test_scaffold_files_are_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scaffold file that exists already is an error before anything is written; a bad
    --runtime or --name is an error with the choices."""
    write_tree(tmp_path, {"workers/hello/hello.py/notes.txt": "mine\n"})
    taken = init(tmp_path, capsys, monkeypatch)
    assert taken.code == 1 and "already exists; init never overwrites a file" in taken.err
    assert not (tmp_path / "ironship.yml").exists()
    assert (tmp_path / "workers/hello/hello.py/notes.txt").read_text() == "mine\n"
    bad = init(tmp_path, capsys, monkeypatch, "--runtime", "cobol")
    assert bad.code == 1 and "python, php, node, ruby, sh" in bad.err
    name = init(tmp_path, capsys, monkeypatch, "--name", "no spaces")
    assert name.code == 1 and "not a worker name" in name.err


def test_gitignore_gains_the_state_folder_once() -> None:
    """.ironship/ is added to a .gitignore that lacks it, and only then."""
    assert gitignore_text("node_modules/") == "node_modules/\n.ironship/\n"
    assert gitignore_text("/.ironship\n") is None
    assert gitignore_text(None) is not None and ".ironship/" in (gitignore_text(None) or "")
