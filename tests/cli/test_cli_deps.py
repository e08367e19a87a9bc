"""Workers with dependencies through the real CLI and a real engine: vendored packages are
imported by tasks, ``files`` collapses them, ``plan`` names them by version, and a plan with
an unchanged lock starts no installer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cli_support import Project, Run, run_cli, write_tree
from deploy.wheelhouse import isolate_pip, needs_npm, npm_env, npm_lock, npm_tarball, sdist, wheel

SEP = "MAGICALSTDOUTSEPARATOR"
PY_MAIN = (
    "import tinyplat, tinypure\n"
    f"print('{SEP}' + tinypure.VERSION + ' ' + tinyplat.VERSION + '{SEP}')\n"
)
SH_MAIN = "#!/bin/sh\npython3 -c 'import tinypure; print(\"sh sees \" + tinypure.VERSION)'\n"

Cli = Callable[..., Run]


@pytest.fixture
def cli(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    isolate_pip(monkeypatch)

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        merged = {**project.env, **(env or {})}
        return run_cli(list(args), capsys, monkeypatch, env=merged, cwd=tmp_path)

    return run


def python_project(folder: Path, pin: str = "tinypure==1.0.0") -> None:
    """A python worker and an sh worker sharing requirements.txt, installed from ./links."""
    links = folder / "links"
    wheel(links, "tinypure", "1.0.0", requires=["tinyextra"])
    wheel(links, "tinypure", "1.1.0", requires=["tinyextra"])
    wheel(links, "tinyextra", "2.0.0")
    wheel(links, "tinyplat", "0.1.0", tag="py3-none-manylinux2014_x86_64")
    write_tree(folder, {"py/main.py": PY_MAIN, "sh/run.sh": SH_MAIN})
    (folder / "requirements.txt").write_text(f"{pin}\ntinyplat\n")
    (folder / "ironship.yml").write_text(
        "version: 1\n"
        "defaults:\n"
        "  requirements: ../requirements.txt\n"
        "  python: '3.11'\n"
        f"  pip_args: [--no-index, --find-links, {links}]\n"
        "workers:\n"
        "  py:\n    root: py\n    entry: main.py\n"
        "  shw:\n    root: sh\n    entry: run.sh\n"
    )


def task_output(cli: Cli, worker: str) -> str:
    done = cli("queue", worker, "--wait")
    assert done.code == 0, done.err
    return done.out


def test_python_and_sh_workers_import_their_vendored_packages(cli: Cli, tmp_path: Path) -> None:
    """Applied to the engine, a python worker imports a pure and a manylinux-tagged wheel, and
    an sh worker's python3 sees them too, through the generated runner."""
    python_project(tmp_path)
    applied = cli("apply", "-y")
    assert applied.code == 0, applied.err
    assert f"{SEP}1.0.0 0.1.0{SEP}" in task_output(cli, "py")
    assert "sh sees 1.0.0" in task_output(cli, "shw")


def test_files_collapses_packages_and_all_expands(cli: Cli, tmp_path: Path) -> None:
    """files shows one line per vendored package with its version and file count; --all and
    --json list every file."""
    python_project(tmp_path)
    collapsed = cli("files", "py")
    assert collapsed.code == 0, collapsed.err
    assert "__pips__/tinypure 1.0.0 (6 files)" in collapsed.out
    assert "__pips__/tinypure/__init__.py" not in collapsed.out
    assert "__runner__.sh" in collapsed.out and "main.py" in collapsed.out
    assert "__pips__/ from ../requirements.txt: 3 packages (pip)" in collapsed.out
    expanded = cli("files", "py", "--all")
    assert "__pips__/tinypure/__init__.py" in expanded.out
    doc = json.loads(cli("files", "py", "--json").out)
    assert doc["runner"] == "__runner__.sh"
    assert {p["name"]: p["version"] for p in doc["dependencies"][0]["packages"]} == {
        "tinyextra": "2.0.0",
        "tinyplat": "0.1.0",
        "tinypure": "1.0.0",
    }


def test_plan_names_a_requirements_change_and_a_warm_plan_runs_no_pip(
    cli: Cli, tmp_path: Path
) -> None:
    """After apply, with the wheels gone (pip would fail), plan is unchanged: the cached trees
    are used; a new pin (built from restored wheels) shows package and versions."""
    python_project(tmp_path)
    assert cli("apply", "-y").code == 0
    shutil.move(tmp_path / "links", tmp_path / "hidden")
    warm = cli("plan")
    assert warm.code == 0, warm.err
    assert "No changes. 2 unchanged" in warm.out
    assert "installing" not in warm.err.lower()  # nothing was installed: no progress line
    shutil.move(tmp_path / "hidden", tmp_path / "links")
    (tmp_path / "requirements.txt").write_text("tinypure==1.1.0\ntinyplat\n")
    changed = cli("plan")
    assert changed.code == 0, changed.err
    assert (
        "~ py: update (code)\n"
        "    ~ dependencies (../requirements.txt changed)\n"
        "        ~ tinypure 1.0.0 → 1.1.0\n"
    ) in changed.out
    assert "__pips__/tinypure" not in changed.out
    assert "py: installing pip dependencies" in changed.err  # announced on stderr


def test_an_sdist_only_requirement_fails_with_the_flag_to_build_it(
    cli: Cli, tmp_path: Path
) -> None:
    """plan exits 1 with an error naming the requirement and build_from_source, no traceback."""
    python_project(tmp_path, pin="tinysrc")
    sdist(tmp_path / "links", "tinysrc", "0.5.0")
    done = cli("plan")
    assert done.code == 1
    assert "workers.py.requirements: no wheel of 'tinysrc' for Python 3.11" in done.err
    assert "build_from_source: true" in done.err and "Traceback" not in done.err


def code_json(project: Project, name: str) -> dict[str, object]:
    """The code named ``name`` as the engine's code list returns it (every key)."""
    url = f"{project.url}/2/projects/{project.project_id}/codes"
    response = requests.get(url, headers={"Authorization": f"OAuth {project.token}"}, timeout=10)
    response.raise_for_status()
    return next(c for c in response.json()["codes"] if c["name"] == name)


def test_stack_is_sent_with_the_upload(cli: Cli, project: Project, tmp_path: Path) -> None:
    """stack: is uploaded as the code's stack; a worker with a runner is runtime sh."""
    python_project(tmp_path)
    text = (tmp_path / "ironship.yml").read_text()
    (tmp_path / "ironship.yml").write_text(text.replace("python: '3.11'", "stack: python-3.11"))
    assert cli("apply", "-y").code == 0
    code = code_json(project, "py")
    assert (code["stack"], code["runtime"], code["file_name"]) == (
        "python-3.11",
        "sh",
        "__runner__.sh",
    )
    assert "No changes" in cli("plan").out


def test_a_changed_stack_shows_in_plan(cli: Cli, tmp_path: Path) -> None:
    """A new stack is a settings change, shown before and after."""
    python_project(tmp_path)
    text = (tmp_path / "ironship.yml").read_text().replace("python: '3.11'", "stack: python-3.11")
    (tmp_path / "ironship.yml").write_text(text)
    assert cli("apply", "-y").code == 0
    (tmp_path / "ironship.yml").write_text(text.replace("python-3.11", "python-3.12"))
    assert 'stack: "python-3.11" → "python-3.12"' in cli("plan").out


@needs_npm
def test_node_worker_requires_its_locked_package_and_warm_plan_runs_no_npm(
    cli: Cli, tmp_path: Path
) -> None:
    """A node worker's package-lock.json is installed with npm ci; its task requires the
    package; a second plan starts no npm (a logging npm wrapper sees no new call)."""
    home = tmp_path / "home"
    home.mkdir()
    env = npm_env(home)
    dep = npm_tarball(tmp_path / "tarballs", "tinydep", "1.2.3", "module.exports = 'tiny';\n", env)
    npm_lock(tmp_path / "node", {"tinydep": dep}, env)
    write_tree(
        tmp_path, {"node/main.js": f"console.log('{SEP}' + require('tinydep') + '{SEP}');\n"}
    )
    (tmp_path / "ironship.yml").write_text(
        "version: 1\nworkers:\n  nd:\n    root: node\n    entry: main.js\n"
    )
    real = shutil.which("npm")
    calls = tmp_path / "npm-calls.log"
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "npm"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    path = f"{tmp_path / 'bin'}:{env['PATH']}"
    npm = {"PATH": path, "npm_config_cache": env["npm_config_cache"]}
    applied = cli("apply", "-y", env=npm)
    assert applied.code == 0, applied.err
    assert f"{SEP}tiny{SEP}" in task_output(cli, "nd")
    before = calls.read_text()
    assert before.splitlines()[-1].startswith("ci ")
    again = cli("plan", env=npm)
    assert "No changes" in again.out
    assert calls.read_text() == before
