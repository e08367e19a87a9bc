"""The installers ironship runs, their versions, and the one place processes are started.

A tool's version is part of each cache key (packaging/deps/cache.py), yet a plan with every
tree cached must start no process: pip's version is read from its installed metadata, and
another tool's (``npm --version``) is asked once and remembered in ``tools.json`` by the
tool's real path and its file's size, mtime and inode, so an upgrade is noticed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ironship.errors import IronshipError


@dataclass(frozen=True)
class Completed:
    """What a finished process gave back."""

    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Starts one process and waits for it (tests count calls through it)."""

    def __call__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Completed: ...


def run_process(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Completed:
    """The real Runner: ``argv`` in ``cwd`` with ``env``, output captured as text."""
    import subprocess  # not at import: validate and plan start no process (cli/quick.py)

    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        return Completed(127, "", f"{argv[0]}: {exc.strerror or exc}")
    return Completed(done.returncode, done.stdout, done.stderr)


def pip_command() -> list[str]:
    """pip of the Python running ironship (``sys.executable -m pip``)."""
    return [sys.executable, "-m", "pip"]


def pip_version() -> str:
    """The version of that pip, from its metadata (no process)."""
    from importlib import metadata  # only when a worker has dependencies to vendor

    try:
        return metadata.version("pip")
    except metadata.PackageNotFoundError:
        raise IronshipError(
            f"pip is not installed for the Python running ironship ({sys.executable})",
            hint=f"install it: {sys.executable} -m ensurepip",
        ) from None


def find_tool(name: str, needed_by: str, hint: str) -> Path:
    """The program ``name`` on PATH; an error naming it and what needs it when missing."""
    import shutil  # shutil loads bz2 and lzma: only when installing

    found = shutil.which(name)
    if found is None:
        raise IronshipError(f"{needed_by} needs '{name}', which is not on PATH", hint=hint)
    return Path(found)


class ToolVersions:
    """Versions of tools found on PATH, remembered in ``path`` between runs."""

    def __init__(self, path: Path, runner: Runner) -> None:
        self.path = path
        self.runner = runner
        self._known: dict[str, list[object]] | None = None

    def version(self, program: Path, args: Sequence[str] = ("--version",)) -> str:
        """What ``program ARGS`` prints (its first line), asked only when the file changed."""
        real = program.resolve()
        info = real.stat()
        signature: list[object] = [info.st_size, info.st_mtime_ns, info.st_ino]
        known = self._load()
        name = f"{real} {' '.join(args)}"
        entry = known.get(name)
        if isinstance(entry, list) and entry[:3] == signature and isinstance(entry[-1], str):
            return entry[-1]
        done = self.runner([str(program), *args], cwd=Path.cwd(), env=dict(os.environ))
        lines = (done.stdout or done.stderr).strip().splitlines()
        if done.returncode != 0 or not lines:
            raise IronshipError(
                f"'{program} {' '.join(args)}' failed (exit {done.returncode})",
                hint="check that the tool works: run that command yourself",
            )
        known[name] = [*signature, lines[0].strip()]
        self._save(known)
        return lines[0].strip()

    def _load(self) -> dict[str, list[object]]:
        if self._known is None:
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                self._known = doc if isinstance(doc, dict) else {}
            except (OSError, ValueError):
                self._known = {}
        return self._known

    def _save(self, known: dict[str, list[object]]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(known, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        with contextlib.suppress(OSError):
            tmp.unlink()
