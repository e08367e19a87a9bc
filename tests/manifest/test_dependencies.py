"""The manifest's dependency keys (requirements, python, build_from_source, pip_args) and
stack: parsed into the Worker, and every mistake reported with its place and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironship.manifest.load import load_manifest, validate_manifest


def write(folder: Path, workers: str, defaults: str = "") -> Path:
    (folder / "w").mkdir(exist_ok=True)
    (folder / "w" / "main.py").write_text("\n")
    (folder / "w" / "main.js").write_text("\n")
    (folder / "requirements.txt").write_text("tinypure\n")
    path = folder / "ironship.yml"
    path.write_text(f"version: 1\n{defaults}workers:\n{workers}")
    return path


def test_keys_are_parsed_with_defaults_and_stack(tmp_path: Path) -> None:
    """A file path, a list, pip_args, build_from_source, and python from a python-X.Y stack."""
    path = write(
        tmp_path,
        "  a:\n    root: w\n    entry: main.py\n    requirements: ../requirements.txt\n"
        "    stack: python-3.12\n"
        "  b:\n    root: w\n    entry: main.py\n    requirements: [tinypure==1.0, tinyplat]\n"
        "    python: '3.10'\n    build_from_source: true\n",
        "defaults:\n  pip_args: [--no-index, --find-links, wheels]\n",
    )
    a, b = load_manifest(path).workers
    assert (a.requirements, a.python, a.stack) == ("../requirements.txt", "3.12", "python-3.12")
    assert a.pip_args == b.pip_args == ("--no-index", "--find-links", "wheels")
    assert (b.requirements, b.python, b.build_from_source) == (
        ("tinypure==1.0", "tinyplat"),
        "3.10",
        True,
    )
    assert (b.stack, a.build_from_source) == (None, False)


def test_a_worker_without_the_keys_keeps_its_defaults(tmp_path: Path) -> None:
    """No dependency keys: nothing to vendor and no stack."""
    (w,) = load_manifest(write(tmp_path, "  a:\n    root: w\n    entry: main.py\n")).workers
    assert (w.requirements, w.python, w.build_from_source, w.pip_args, w.stack) == (
        None,
        None,
        False,
        (),
        None,
    )


def test_requirements_file_problems_are_located(tmp_path: Path) -> None:
    """A missing file, one outside the manifest's folder and an absolute path are each
    reported at the key that names them."""
    path = write(
        tmp_path,
        "  a:\n    root: w\n    entry: main.py\n    requirements: reqs.txt\n"
        "  b:\n    root: w\n    entry: main.py\n    requirements: ../../outside.txt\n"
        "  c:\n    root: w\n    entry: main.py\n    requirements: /etc/passwd\n",
    )
    problems = validate_manifest(path)
    assert problems == [
        f"{path}:6:19: workers.a.requirements: requirements file 'reqs.txt' does not exist "
        "(hint: requirements: is a file relative to the worker's root, or a list of requirements)",
        f"{path}:10:19: workers.b.requirements: '../../outside.txt' leaves the manifest's folder "
        "(hint: keep it in the project)",
        f"{path}:14:19: workers.c.requirements: '/etc/passwd' is an absolute path "
        "(hint: requirements: is a file relative to the worker's root, or a list of requirements)",
    ]


def test_pip_args_may_not_repeat_ironships_own_options(tmp_path: Path) -> None:
    """--target, --platform=… and the like in pip_args are refused at their place."""
    path = write(
        tmp_path,
        "  a:\n    root: w\n    entry: main.py\n    requirements: [x]\n"
        "    pip_args: [--no-index, --platform=win32, -t, out]\n",
    )
    hint = "(hint: use requirements:, python: and build_from_source: instead)"
    assert validate_manifest(path) == [
        f"{path}:7:28: workers.a.pip_args[1]: '--platform' is an option ironship passes to pip "
        f"itself {hint}",
        f"{path}:7:46: workers.a.pip_args[2]: '-t' is an option ironship passes to pip itself "
        f"{hint}",
    ]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            "    stack: node-20\n",
            "workers.a.stack: stack 'node-20' is for node, but the worker's runtime is python "
            "(hint: use a python-… stack, or change the runtime)",
        ),
        (
            "    stack: python-3.11\n    python: '3.12'\n",
            "workers.a.python: python '3.12' contradicts stack 'python-3.11' (Python 3.11) "
            "(hint: leave python: out (the stack sets it), or make them agree)",
        ),
        ("    stack: Python 3\n", "workers.a.stack: "),
        (
            "    python: 3.10\n",
            "workers.a.python: expected a string, got a number (3.1) (hint: quote it to keep it "
            'a string: "3.10")',
        ),
    ],
)
def test_stack_and_python_mistakes(tmp_path: Path, keys: str, expected: str) -> None:
    """A stack of another language, a python contradicting the stack, a malformed stack and
    an unquoted python version are each one located problem."""
    path = write(tmp_path, "  a:\n    root: w\n    entry: main.py\n" + keys)
    (problem,) = validate_manifest(path)
    assert expected in problem


def test_stack_of_a_node_worker_is_accepted(tmp_path: Path) -> None:
    """node-20 on a node worker, and a stack from defaults, are fine."""
    path = write(
        tmp_path, "  a:\n    root: w\n    entry: main.js\n", "defaults:\n  stack: node-20\n"
    )
    assert validate_manifest(path) == []
    assert load_manifest(path).workers[0].stack == "node-20"
