"""A worker's dependency keys (``requirements``, ``python``, ``build_from_source``,
``pip_args``) and its ``stack``: the checks a schema cannot express, and their values
(README "Workers with dependencies").

``requirements:`` is a requirements file, relative to the worker's root and inside the
manifest's folder (so several workers can share one), or a list of requirement strings.
``pip_args`` may not repeat the options ironship sets itself, which decide where and for
which target pip installs. A ``stack`` (``python-3.11``, ``node-20``) names a language and a
version: a stack for another language than the worker's runtime, or a ``python:`` that
contradicts a ``python-X.Y`` stack, is a mistake the manifest reports with its place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ironship.manifest.defaults import infer_runtime, setting_path
from ironship.manifest.yamlpos import JsonPath

# pip options ironship passes itself (packaging/deps/pip.py): where to install, for which
# target, from which kind of distribution. Repeating one in pip_args would contradict it.
OWN_PIP_OPTIONS = (
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--user",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--only-binary",
    "-r",
    "--requirement",
)
STACK_LANGUAGES = ("python", "node", "ruby", "php")  # the runtimes a stack name can contradict
_STACK = re.compile(r"([a-z][a-z0-9]*)-([0-9]+(?:\.[0-9]+)*)")

Add = Callable[[JsonPath, str, "str | None"], None]


def stack_python(stack: Any) -> str | None:
    """The ``X.Y`` of a ``python-X.Y[.Z]`` stack, else None."""
    if not isinstance(stack, str):
        return None
    match = _STACK.fullmatch(stack)
    if match is None or match.group(1) != "python":
        return None
    return ".".join(match.group(2).split(".")[:2])


def requirements_value(value: Any) -> str | tuple[str, ...] | None:
    """``requirements:`` as the Worker holds it: a posix path, or a tuple of strings."""
    if isinstance(value, str):
        return PurePosixPath(value).as_posix()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return None


def python_value(settings: Mapping[str, Any]) -> str | None:
    """The target Python: ``python:``, else the version of a ``python-X.Y`` stack."""
    declared = settings.get("python")
    return declared if isinstance(declared, str) else stack_python(settings.get("stack"))


def dependency_problems(
    add: Add,
    worker: Mapping[str, Any],
    name: str,
    settings: Mapping[str, Any],
    root: Path | None,
    base: Path,
) -> None:
    """Report every problem of the worker's dependency keys and stack through ``add``."""
    _requirements_file(add, worker, name, settings.get("requirements"), root, base)
    _pip_args(add, setting_path(worker, name, "pip_args"), settings.get("pip_args"))
    _stack(add, worker, name, settings)


def _requirements_file(
    add: Add, worker: Mapping[str, Any], name: str, value: Any, root: Path | None, base: Path
) -> None:
    if not isinstance(value, str) or not value or root is None:
        return
    path = setting_path(worker, name, "requirements")
    hint = "requirements: is a file relative to the worker's root, or a list of requirements"
    if os.path.isabs(value):
        add(path, f"'{value}' is an absolute path", hint)
        return
    target = (root / value).resolve()
    if not target.is_relative_to(base):
        add(path, f"'{value}' leaves the manifest's folder", "keep it in the project")
        return
    if not target.exists():
        add(path, f"requirements file '{value}' does not exist", hint)
    elif not target.is_file():
        add(path, f"'{value}' is not a file", hint)


def _pip_args(add: Add, path: JsonPath, args: Any) -> None:
    if not isinstance(args, list):
        return
    for index, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        option = arg.split("=", 1)[0]
        if option in OWN_PIP_OPTIONS:
            add(
                (*path, index),
                f"'{option}' is an option ironship passes to pip itself",
                "use requirements:, python: and build_from_source: instead",
            )


def _stack(add: Add, worker: Mapping[str, Any], name: str, settings: Mapping[str, Any]) -> None:
    stack = settings.get("stack")
    match = _STACK.fullmatch(stack) if isinstance(stack, str) else None
    if match is None:
        return  # absent, or the schema's to report
    language = match.group(1)
    runtime = settings.get("runtime")
    if not isinstance(runtime, str):
        entry = settings.get("entry")
        runtime = infer_runtime(entry) if isinstance(entry, str) else None
    if language in STACK_LANGUAGES and runtime in STACK_LANGUAGES and language != runtime:
        add(
            setting_path(worker, name, "stack"),
            f"stack '{stack}' is for {language}, but the worker's runtime is {runtime}",
            f"use a {runtime}-… stack, or change the runtime",
        )
    declared, implied = settings.get("python"), stack_python(stack)
    if isinstance(declared, str) and implied is not None and declared != implied:
        add(
            setting_path(worker, name, "python"),
            f"python '{declared}' contradicts stack '{stack}' (Python {implied})",
            "leave python: out (the stack sets it), or make them agree",
        )
