"""``ironship import`` on tests/onboard/workerfiles/: one .worker file per runtime, written the
way the official iron_worker_ng examples are, imported with --write into an existing manifest,
validated, deployed to a real engine and run; every warning checked by file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import Project, Run, run_cli, write_tree
from deploy.wheelhouse import isolate_pip, wheel

CORPUS = Path(__file__).parent / "workerfiles"
SEP = "MAGICALSTDOUTSEPARATOR"

# The Python worker's own files are written here rather than kept in the corpus, so the
# repository's linters and type checker do not read a tutorial-style script as project code.
PYTHON_FILES = {
    "python/fib.py": (
        "import argparse, json, os\n"
        "import helpers, tinypure\n"
        "from lib import fmt\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('-payload', dest='payload_file')\n"
        "args, _ = parser.parse_known_args()\n"
        "payload = json.load(open(args.payload_file))\n"
        "print(fmt.wrap(json.dumps({'seq': helpers.fibonacci(payload.get('max', 10)),\n"
        "    'greeting': os.environ.get('GREETING'), 'tinypure': tinypure.VERSION})))\n"
    ),
    "python/helpers.py": (
        "def fibonacci(limit):\n"
        "    seq, a, b = [], 0, 1\n"
        "    while b < limit:\n"
        "        seq.append(b)\n"
        "        a, b = b, a + b\n"
        "    return seq\n"
    ),
    "python/lib/__init__.py": "",
    "python/lib/fmt.py": f"def wrap(text):\n    return '{SEP}' + text + '{SEP}'\n",
}
MANIFEST = """# Our own comment, kept by import --write.
version: 1
defaults:
  timeout: 60
  pip_args: [--no-index, --find-links, {links}]
workers:
  existing:
    root: existing
    entry: run.sh
environments: {{}}
"""
# (file, line, what the warning says): every directive of the corpus that does not carry over.
WARNINGS = [
    ("binary/cleanup.worker", 5, "'data/keep.txt' ships as 'keep.txt'"),
    ("binary/cleanup.worker", 6, "iron_io_config"),
    ("node/thumbs.worker", 4, "build commands are not run"),
    ("node/thumbs.worker", 6, "remote builds are not needed"),
    ("php/report.worker", 4, "Debian packages"),
    ("php/report.worker", 5, "zip archives"),
    ("php/report.worker", 6, "string interpolation"),
    ("python/fib.worker", 13, "remote builds are not needed"),
    ("ruby/hello.worker", 6, "gem 'json'"),
    ("ruby/hello.worker", 7, "gem 'mongoid'"),
    ("ruby/hello.worker", 12, "a Ruby 'if' block"),
    ("ruby/hello.worker", 16, "remote builds are not needed"),
]
OUTPUTS = {
    "fib_python": '{"seq": [1, 1, 2, 3, 5, 8], "greeting": "hello", "tinypure": "1.0.0"}',
    "hello": '{"greeting":"Hello, world!","env":"production","retries":"3"}',
    "report": '{"report":"none"}',
    "thumbs": '{"package":"thumbs","size":64}',
    "nightly-cleanup": '{"kept": "missing"}',
}
needs_runtimes = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("php", "ruby", "node")),
    reason="php, ruby and node are needed to run the corpus",
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The corpus copied into a project with a manifest of its own and a local wheel."""
    isolate_pip(monkeypatch)
    shutil.copytree(CORPUS, tmp_path, dirs_exist_ok=True)
    write_tree(tmp_path, PYTHON_FILES)
    write_tree(tmp_path, {"existing/run.sh": "echo existing\n"})
    wheel(tmp_path / "links", "tinypure", "1.0.0")
    (tmp_path / "ironship.yml").write_text(MANIFEST.format(links=tmp_path / "links"))
    return tmp_path


def cli(
    args: list[str],
    folder: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    return run_cli(args, capsys, monkeypatch, env=project.env, cwd=folder)


@needs_runtimes
def test_corpus_imports_validates_deploys_and_runs(
    folder: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """import --write adds the five workers after the existing one (comments and other keys
    kept), warns once per directive that does not carry over, and the result validates,
    deploys and runs each worker with its files, env and pip dependency."""
    before = (folder / "ironship.yml").read_text()
    files = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*.worker"))
    done = cli(["import", *files, "--write"], folder, project, capsys, monkeypatch)
    assert done.code == 0, done.err
    warnings = [line for line in done.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(WARNINGS), done.err
    for (file, line, what), shown in zip(WARNINGS, warnings, strict=True):
        assert shown.startswith(f"warning: {file}:{line}: ") and what in shown, shown
    text = (folder / "ironship.yml").read_text()
    assert text.startswith(before.split("environments:")[0])
    assert text.endswith("environments: {}\n")
    assert "  fib_python:\n    root: python\n    entry: fib.py\n" in text

    assert cli(["validate"], folder, project, capsys, monkeypatch).code == 0
    applied = cli(["apply", "-y"], folder, project, capsys, monkeypatch)
    assert applied.code == 0, applied.err
    for worker, output in OUTPUTS.items():
        payload = '{"max": 10}' if worker == "fib_python" else "{}"
        ran = cli(
            ["queue", worker, "--payload", payload, "--wait"], folder, project, capsys, monkeypatch
        )
        assert ran.code == 0, (worker, ran.err)
        assert f"{SEP}{output}{SEP}" in ran.out, (worker, ran.out)


def test_a_name_already_in_the_manifest_is_refused_and_nothing_written(
    folder: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing a worker whose name the manifest has is an error naming both places; the
    file is unchanged; without --write the entries are only printed."""
    (folder / "binary" / "cleanup.worker").write_text(
        "name 'existing'\nruntime 'sh'\nexec 'cleanup.sh'\n"
    )
    before = (folder / "ironship.yml").read_text()
    done = cli(["import", "binary/cleanup.worker", "--write"], folder, project, capsys, monkeypatch)
    assert done.code == 1
    assert "binary/cleanup.worker:1: worker 'existing' is already in ironship.yml:7" in done.err
    assert (folder / "ironship.yml").read_text() == before

    printed = cli(["import", "node/thumbs.worker"], folder, project, capsys, monkeypatch)
    assert printed.code == 0, printed.err
    assert printed.out.startswith("# add under workers: in ironship.yml\n  thumbs:\n")
    assert (folder / "ironship.yml").read_text() == before


def test_two_files_with_one_name_are_refused(
    folder: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two .worker files giving one worker name: an error naming both files and lines."""
    (folder / "php" / "again.worker").write_text(
        "runtime 'php'\nname 'thumbs'\nexec 'report.php'\n"
    )
    done = cli(
        ["import", "node/thumbs.worker", "php/again.worker"], folder, project, capsys, monkeypatch
    )
    assert done.code == 1
    assert (
        "php/again.worker:2: worker 'thumbs' is also imported from node/thumbs.worker" in done.err
    )


def test_a_new_manifest_is_written_with_its_schema(
    tmp_path: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a manifest, --write creates one (version, $schema comment, the schema file)
    that validates and deploys."""
    shutil.copytree(CORPUS / "node", tmp_path / "node")
    done = cli(["import", "node/thumbs.worker", "--write"], tmp_path, project, capsys, monkeypatch)
    assert done.code == 0, done.err
    text = (tmp_path / "ironship.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=.ironship/ironship.schema.json\n")
    assert (tmp_path / ".ironship" / "ironship.schema.json").is_file()
    assert cli(["validate"], tmp_path, project, capsys, monkeypatch).code == 0
    assert cli(["apply", "-y"], tmp_path, project, capsys, monkeypatch).code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runtime 'cobol'\nexec 'thumbs.js'\n", "x.worker:1: unknown runtime 'cobol'"),
        ("runtime 'node'\nexec 'thumbs.js\n", "x.worker:2: a string opened with ' is never closed"),
        ("runtime 'node'\nexec 'gone.js'\n", "x.worker:2: exec 'gone.js' does not exist"),
    ],
)
def test_bad_input_exits_1_with_file_line_and_hint(
    tmp_path: Path,
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    """An unknown runtime, unreadable syntax or a missing file: exit 1, the file and line,
    a hint, no traceback, nothing written."""
    shutil.copytree(CORPUS / "node", tmp_path / "node")
    (tmp_path / "node" / "x.worker").write_text(text)
    done = cli(["import", "node/x.worker", "--write"], tmp_path, project, capsys, monkeypatch)
    assert done.code == 1
    assert message in done.err and "hint: " in done.err
    assert "Traceback" not in done.err and "internal error" not in done.err
    assert not (tmp_path / "ironship.yml").exists()
    missing = cli(["import", "nope.worker"], tmp_path, project, capsys, monkeypatch)
    assert missing.code == 1 and "nope.worker: no such file" in missing.err
