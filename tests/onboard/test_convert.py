"""A .worker file as a manifest entry: the root where iron_worker_ng's package layout already
holds, dependencies and env carried over, and a located warning or error for the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import write_tree

from ironship.errors import IronshipError
from ironship.onboard.convert import Imported, convert
from ironship.onboard.workerfile import parse_workerfile


def imported(project: Path, rel: str, text: str) -> Imported:
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return convert(parse_workerfile(text, path), project)


def test_layout_that_matches_becomes_root_entry_and_include(tmp_path: Path) -> None:
    """exec + file (with a destination) + dir sitting where the package puts them: the
    .worker's folder is the root and include lists exactly those files."""
    write_tree(tmp_path, {"w/main.py": "", "w/lib/util.py": "", "w/data/a.txt": "", "w/x": ""})
    got = imported(
        tmp_path,
        "w/job.worker",
        "runtime 'python'\nstack 'python-3.11'\nexec 'main.py'\nfile 'lib/util.py', 'lib'\n"
        "dir 'data'\nset_env 'A', 1\npip 'requests'\npip 'idna', '3.7'\npip 'six', '>=1.16'\n",
    )
    assert got.name == "job"
    assert got.entry == {
        "root": "w",
        "entry": "main.py",
        "runtime": "python",
        "stack": "python-3.11",
        "include": ["/main.py", "/lib/util.py", "/data/"],
        "requirements": ["requests", "idna==3.7", "six>=1.16"],
        "env": {"A": "1"},
    }
    assert got.notes == ()


def test_name_directive_and_a_file_that_moves(tmp_path: Path) -> None:
    """``name`` replaces the file's name; a file iron_worker_ng put at the top but which
    lives in a subfolder ships at its own place, with a warning that says so."""
    write_tree(tmp_path, {"main.rb": "", "lib/helper.rb": ""})
    got = imported(tmp_path, "job.worker", "name 'Mailer'\nexec 'main.rb'\nfile 'lib/helper.rb'\n")
    assert got.name == "Mailer"
    assert got.entry == {
        "entry": "main.rb",
        "runtime": "ruby",
        "include": ["/main.rb", "/lib/helper.rb"],
    }
    (note,) = got.notes
    assert (note.line, note.file.name) == (3, "job.worker")
    assert "'helper.rb' ships as 'lib/helper.rb'" in note.message


def test_requirements_file_wins_over_pip_lines_with_a_warning(tmp_path: Path) -> None:
    """``requirements`` becomes the worker's requirements file; a pip line beside it is a
    warning saying to add it to that file."""
    write_tree(tmp_path, {"w/main.py": "", "requirements.txt": "requests\n"})
    got = imported(
        tmp_path,
        "w/a.worker",
        "runtime 'python'\nexec 'main.py'\nrequirements '../requirements.txt'\npip 'six'\n",
    )
    assert got.entry["requirements"] == "../requirements.txt"
    (note,) = got.notes
    assert note.line == 4 and "add six to ../requirements.txt" in note.hint


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("gem 'json', '~> 2.0'", "gem 'json' is not carried over"),
        ("gemfile 'Gemfile', 'default', 'extra'", "groups (default, extra)"),
        ("deb 'x.deb'", "Debian packages"),
        ("zip 'x.zip', 'assets'", "zip archives"),
        ("jar 'x.jar'", "jar files"),
        ("full_remote_build true", "remote builds"),
        ("remote", "remote builds"),
        ("build 'npm install'", "build commands"),
        ("iron_io_config 'iron.json'", "iron.json"),
        ("exec 'main.rb', 'MainWorker'", "exec's extra argument (MainWorker)"),
        ("merge_gem 'json'", "gem 'json'"),
        ("something_new 'x'", "unknown directive 'something_new'"),
        ("puts 'hi' + 'there'", "not imported"),
    ],
)
def test_each_unsupported_directive_is_a_located_warning(
    tmp_path: Path, line: str, message: str
) -> None:
    """Every directive that cannot carry over is one warning with its line and a fix."""
    write_tree(tmp_path, {"main.rb": "", "Gemfile": "", "Gemfile.lock": ""})
    exec_line = "" if line.startswith("exec") else "exec 'main.rb'\n"
    got = imported(tmp_path, "a.worker", f"runtime 'ruby'\n{exec_line}{line}\n")
    notes = [n for n in got.notes if n.line == (2 if not exec_line else 3)]
    assert len(notes) == 1, got.notes
    assert message in notes[0].message
    assert notes[0].hint
    assert str(notes[0]).startswith(f"{tmp_path / 'a.worker'}:")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("runtime 'cobol'\nexec 'main.rb'\n", 1, "unknown runtime 'cobol'"),
        ("runtime 'java'\nexec 'main.rb'\n", 1, "runtime 'java' has no ironship counterpart"),
        ("runtime 'ruby'\nexec 'missing.rb'\n", 2, "exec 'missing.rb' does not exist"),
        ("runtime 'ruby'\nexec 'main.rb'\ndir 'main.rb'\n", 3, "is not a folder"),
        ("runtime 'ruby'\nexec 'main.rb'\nexec 'main.rb'\n", 3, "a second exec"),
        ("runtime 'ruby'\nexec 'main.rb'\nfile '../outside.rb'\n", 3, "is outside"),
        ("exec 'main.txt'\n", 1, "no runtime directive"),
        ("runtime 'ruby'\nexec 42\n", 2, "must be a string"),
        ("name 'My Worker'\nexec 'main.rb'\n", 1, "name 'My Worker' is not a worker name"),
    ],
)
def test_what_cannot_become_an_entry_is_an_error_with_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    """An unknown runtime, a missing file, two execs, a file outside the project: an error
    naming the .worker file, the line and the fix."""
    project = tmp_path / "p"
    write_tree(project, {"main.rb": "", "main.txt": ""})
    (tmp_path / "outside.rb").write_text("")
    with pytest.raises(IronshipError) as caught:
        imported(project, "a.worker", text)
    assert caught.value.message.startswith(f"{project / 'a.worker'}:{line}: ")
    assert message in caught.value.message
    assert caught.value.hint


def test_no_exec_is_an_error(tmp_path: Path) -> None:
    """A .worker without exec names the file and says to add one."""
    with pytest.raises(IronshipError, match="no exec directive") as caught:
        imported(tmp_path, "a.worker", "runtime 'python'\n")
    assert "exec 'FILE'" in (caught.value.hint or "")


def test_onboard_imports_no_cli_deploy_or_engine() -> None:
    """The onboard package loads nothing of the CLI, the deploy core, the engine or HTTP."""
    code = (
        "import sys, ironship.onboard.convert, ironship.onboard.scaffold, "
        "ironship.onboard.manifest_text; print('\\n'.join(sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    bad = ("ironship.cli", "ironship.deploy", "ironship.engine", "ironship.iron", "requests")
    assert not {m for m in loaded if m.startswith(bad)}
