"""Stacks: a code's ``stack`` (``python-3.11``, ``node-20``, ``ruby-3.1``, ``php-8.2``) as an
interpreter on this machine.

The hosted service picks an image per stack (docs/ironworker-api.md §2 (Code packages), the
``stack`` key); the local engine picks the installed interpreter whose version starts with
the stack's version, or refuses the task with a message naming what is installed. Versions
come from running ``PROGRAM --version`` once per file (cached by path, size and mtime).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("python", "node", "ruby", "php")

# Program names that may run a language, as regular expressions over a file name on PATH.
_NAMES: dict[str, re.Pattern[str]] = {
    "python": re.compile(r"python(\d+(\.\d+)?)?"),
    "node": re.compile(r"node(js)?(\d+)?"),
    "ruby": re.compile(r"ruby(\d+(\.\d+)?)?"),
    "php": re.compile(r"php(\d+(\.\d+)?)?"),
}
# How many version components name a stack: python-3.11, node-20, ruby-3.1, php-8.2.
_STACK_PARTS = {"python": 2, "node": 1, "ruby": 2, "php": 2}

_STACK = re.compile(r"([a-z]+)-(\d+(?:\.\d+)*)")
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
PROBE_TIMEOUT = 10.0


class StackUnavailable(Exception):
    """The stack is malformed, unsupported or not installed; ``str()`` is the task's msg."""


@dataclass(frozen=True)
class Interpreter:
    """One program on this machine and the version it reports."""

    language: str
    version: tuple[int, ...]
    program: str

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    @property
    def stack(self) -> str:
        """The stack name this interpreter serves, e.g. ``python-3.11`` or ``node-20``."""
        parts = self.version[: _STACK_PARTS[self.language]]
        return f"{self.language}-{'.'.join(str(p) for p in parts)}"

    def link_names(self) -> tuple[str, ...]:
        """The program names a runner script may call this interpreter by."""
        major = self.version[0]
        if self.language == "python":
            minor = self.version[1] if len(self.version) > 1 else 0
            return ("python", f"python{major}", f"python{major}.{minor}")
        if self.language == "node":
            return ("node", "nodejs")
        return (self.language,)


def parse_stack(stack: str) -> tuple[str, tuple[int, ...]]:
    """``"python-3.11"`` → ``("python", (3, 11))``; StackUnavailable for anything else."""
    text = stack.strip().lower()
    match = _STACK.fullmatch(text)
    if match is None:
        raise StackUnavailable(
            f"stack {stack!r} is not a stack name: use LANGUAGE-VERSION, e.g. python-3.11 or "
            "node-20"
        )
    language = "node" if match.group(1) == "nodejs" else match.group(1)
    if language not in LANGUAGES:
        raise StackUnavailable(
            f"stack {stack!r} is not supported by this engine (it runs "
            f"{', '.join(LANGUAGES)} stacks, e.g. python-3.11)"
        )
    return language, tuple(int(part) for part in match.group(2).split("."))


def resolve(stack: str, path: str | None = None) -> Interpreter:
    """The installed interpreter for ``stack``, looked for on ``path`` (default: PATH)."""
    language, wanted = parse_stack(stack)
    found = interpreters(language, path)
    for interp in found:
        if interp.version[: len(wanted)] == wanted:
            return interp
    if found:
        installed = ", ".join(f"{i.language} {i.version_text} ({i.program})" for i in found)
        what = f"installed: {installed}"
    else:
        what = f"no {language} is installed"
    raise StackUnavailable(
        f"stack {stack!r} is not available on this engine ({what}); install that version "
        "on the engine's PATH, or change the worker's stack"
    )


def interpreters(language: str, path: str | None = None) -> list[Interpreter]:
    """Every working interpreter for ``language`` on ``path``, most specific name first.

    For python the engine's own interpreter counts too: it can always run a worker.
    """
    seen: set[str] = set()
    out: list[Interpreter] = []
    for program in _candidates(language, path):
        real = os.path.realpath(program)
        if real in seen:
            continue
        seen.add(real)
        version = probe(program)
        if version is not None:
            out.append(Interpreter(language, version, program))
    return out


def available_stacks(path: str | None = None) -> list[str]:
    """The stack names this engine can run, e.g. ``["node-20", "python-3.11"]``."""
    names = {i.stack for language in LANGUAGES for i in interpreters(language, path)}
    return sorted(names)


def base_python() -> str | None:
    """The engine's interpreter outside any virtualenv (workers don't see its packages)."""
    base = getattr(sys, "_base_executable", "") or sys.executable
    return base or None


def _candidates(language: str, path: str | None) -> Iterator[str]:
    pattern = _NAMES[language]
    for folder in _path_dirs(path):
        try:
            names = sorted(os.listdir(folder), key=lambda n: (-len(n), n))
        except OSError:
            continue
        for name in names:
            full = os.path.join(folder, name)
            if pattern.fullmatch(name) and os.access(full, os.X_OK) and os.path.isfile(full):
                yield full
    if language == "python":
        base = base_python()
        if base:
            yield base


def _path_dirs(path: str | None) -> Iterator[str]:
    text = os.environ.get("PATH", os.defpath) if path is None else path
    for folder in text.split(os.pathsep):
        # A version manager's shims (pyenv, rbenv, asdf) run whatever version is selected
        # for a directory, or fail: they say nothing about what is installed.
        if folder and Path(folder).name != "shims":
            yield folder


_cache: dict[tuple[str, int, int], tuple[int, ...] | None] = {}
_cache_lock = threading.Lock()


def probe(program: str) -> tuple[int, ...] | None:
    """The version ``program --version`` reports, or None when it does not run or say."""
    try:
        st = os.stat(program)
    except OSError:
        return None
    key = (os.path.realpath(program), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    version = _run_version(program)
    with _cache_lock:
        _cache[key] = version
    return version


def _run_version(program: str) -> tuple[int, ...] | None:
    env = {"PATH": os.environ.get("PATH") or os.defpath, "LANG": "C"}
    try:
        done = subprocess.run(
            [program, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    text = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    match = _VERSION.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)
