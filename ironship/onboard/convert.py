"""A parsed ``.worker`` file turned into one ironship.yml worker entry, plus a warning for every
directive that does not carry over (README "Importing .worker files").

iron_worker_ng builds a package by merging files: ``exec``/``file`` put a file at the package's
top (or under ``file``'s destination), ``dir`` puts a folder there under its own name; paths are
relative to the ``.worker`` file's folder. ironship ships a folder (``root``) as it is, so the
root is the folder in which every merged file already sits where iron_worker_ng would have put
it, and ``include`` names exactly those files. When no folder fits all of them, the root is the
nearest folder holding them all and each file that moves gets a warning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ironship.errors import IronshipError
from ironship.onboard.workerfile import Directive, Skipped, Symbol, WorkerFile

RUNTIMES = {
    "python": "python",
    "ruby": "ruby",
    "php": "php",
    "node": "node",
    "binary": "binary",
    "sh": "sh",
}
WORKER_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # the schema's worker_name
# iron_worker_ng runtimes with no ironship counterpart.
NO_COUNTERPART = ("java", "go", "mono", "perl", "scala")
ALIASES = {
    "merge_exec": "exec",
    "worker": "exec",
    "merge_worker": "exec",
    "merge_file": "file",
    "merge_dir": "dir",
    "merge_pip": "pip",
    "merge_requirements": "requirements",
    "merge_gem": "gem",
    "merge_gemfile": "gemfile",
    "merge_deb": "deb",
    "merge_zip": "zip",
    "merge_jar": "jar",
    "jar": "jar",
    "remote_build_command": "build",
}


@dataclass(frozen=True)
class Note:
    """A directive that did not carry over: where it is, what happened, what to do instead."""

    file: Path
    line: int
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Imported:
    """One worker from one ``.worker`` file: its name, manifest entry and warnings."""

    name: str
    source: Path
    line: int
    entry: dict[str, Any]
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class _Item:
    kind: str  # exec, file, dir
    source: Path
    dest: PurePosixPath
    line: int


@dataclass
class _State:
    wf: WorkerFile
    base: Path
    name: str
    name_line: int = 0
    runtime: str | None = None
    runtime_line: int = 0
    stack: str | None = None
    exec_item: _Item | None = None
    items: list[_Item] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    pips: list[tuple[str, int]] = field(default_factory=list)
    requirements: tuple[Path, int] | None = None
    gemfile: tuple[Path, int] | None = None
    notes: list[Note] = field(default_factory=list)

    def where(self, line: int) -> str:
        return f"{self.wf.path}:{line}"

    def note(self, line: int, message: str, hint: str) -> None:
        self.notes.append(Note(self.wf.path, line, message, hint))

    def error(self, line: int, message: str, hint: str) -> IronshipError:
        return IronshipError(f"{self.where(line)}: {message}", hint=hint)


def convert(wf: WorkerFile, project: Path) -> Imported:
    """The manifest entry for ``wf``, with paths relative to ``project`` (the manifest's
    folder). IronshipError (file:line and the fix) when no entry can be made."""
    name = wf.path.name.removesuffix(".worker").removesuffix(".workerfile")
    state = _State(wf, wf.path.parent.resolve(), name)
    for skipped in wf.skipped:
        _skipped(state, skipped)
    for directive in wf.directives:
        handler = _HANDLERS.get(ALIASES.get(directive.name, directive.name), _unknown)
        handler(state, directive)
    if state.exec_item is None:
        raise IronshipError(
            f"{wf.path}: no exec directive, so there is nothing to run",
            hint="add exec 'FILE' naming the worker's entry file",
        )
    if not WORKER_NAME.fullmatch(state.name):
        raise IronshipError(
            f"{wf.path}: the file's name gives the worker name '{state.name}', which is not "
            "a worker name ironship accepts",
            hint=f"add name '{_suggest(state.name)}' to the file (letters, digits, '_', '.', '-')",
        )
    entry = _entry(state, project.resolve(), state.exec_item)
    line = state.name_line or state.exec_item.line
    notes = sorted(state.notes, key=lambda n: n.line)
    return Imported(state.name, wf.path, line, entry, tuple(notes))


def _skipped(state: _State, skipped: Skipped) -> None:
    lines = f"lines {skipped.line}-{skipped.end_line}" if skipped.end_line > skipped.line else ""
    what = f"not imported ({skipped.why}){': ' + lines if lines else ''}: {skipped.text}"
    state.note(
        skipped.line,
        what,
        "ironship never runs the .worker file's Ruby: write what it computes as a plain "
        "directive with literal values, or set it in ironship.yml by hand",
    )


def _text(state: _State, d: Directive, index: int, what: str) -> str:
    """Positional argument ``index`` as text; an error naming the directive otherwise."""
    if index >= len(d.args):
        raise state.error(d.line, f"{d.name} needs {what}", f"write {d.name} '{what.upper()}'")
    value = d.args[index]
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, str):
        return value
    raise state.error(
        d.line, f"{d.name}: {what} must be a string, not {value!r}", f"quote it: {d.name} '…'"
    )


def _scalar(value: Any) -> str:
    if isinstance(value, Symbol):
        return value.name
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path(state: _State, raw: str) -> Path:
    return Path(os.path.normpath(state.base / raw))


def _runtime(state: _State, d: Directive) -> None:
    value = _text(state, d, 0, "runtime").lower()
    if value in RUNTIMES:
        state.runtime, state.runtime_line = RUNTIMES[value], d.line
        return
    supported = ", ".join(RUNTIMES)
    if value in NO_COUNTERPART:
        raise state.error(
            d.line,
            f"runtime '{value}' has no ironship counterpart",
            f"ironship deploys {supported} workers: build the program into an executable and "
            "exec it with runtime 'binary', or start it from a sh script",
        )
    raise state.error(d.line, f"unknown runtime '{value}'", f"use one of: {supported}")


def _stack(state: _State, d: Directive) -> None:
    state.stack = _text(state, d, 0, "stack")


def _name(state: _State, d: Directive) -> None:
    state.name, state.name_line = _text(state, d, 0, "name"), d.line
    if not WORKER_NAME.fullmatch(state.name):
        raise state.error(
            d.line,
            f"name '{state.name}' is not a worker name ironship accepts",
            f"a worker name has letters, digits, '_', '.' and '-': use name "
            f"'{_suggest(state.name)}'",
        )


def _suggest(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "worker"


def _exec(state: _State, d: Directive) -> None:
    raw = _text(state, d, 0, "file")
    if state.exec_item is not None:
        raise state.error(
            d.line,
            f"a second exec (the first is at line {state.exec_item.line})",
            "a worker has one entry file: keep one exec and merge the other file with 'file'",
        )
    source = _existing(state, d, raw, "file")
    state.exec_item = _Item("exec", source, PurePosixPath(source.name), d.line)
    if len(d.args) > 1 or d.kwargs:
        extra = ", ".join(_scalar(a) for a in d.args[1:]) or "options"
        state.note(
            d.line,
            f"exec's extra argument ({extra}) is not carried over",
            "ironship runs the entry file as a script: make it do its work when run (for a "
            "Ruby class, instantiate it and call run at the end of the file)",
        )


def _existing(state: _State, d: Directive, raw: str, kind: str) -> Path:
    """The path a file or dir directive names, which must exist as that kind."""
    source = _path(state, raw)
    found = source.is_dir() if kind == "folder" else source.is_file()
    if not found:
        what = "does not exist" if not source.exists() else f"is not a {kind}"
        raise state.error(
            d.line,
            f"{d.name} '{raw}' {what} ({source})",
            "paths in a .worker file are relative to its folder: fix the path",
        )
    return source


def _file(state: _State, d: Directive) -> None:
    source = _existing(state, d, _text(state, d, 0, "path"), "file")
    dest = _dest(state, d)
    state.items.append(_Item("file", source, dest / source.name, d.line))


def _dir(state: _State, d: Directive) -> None:
    source = _existing(state, d, _text(state, d, 0, "path"), "folder")
    dest = _dest(state, d)
    state.items.append(_Item("dir", source, dest / source.name, d.line))


def _dest(state: _State, d: Directive) -> PurePosixPath:
    if len(d.args) < 2:
        return PurePosixPath()
    raw = _text(state, d, 1, "destination").strip("/")
    return PurePosixPath(os.path.normpath(raw)) if raw else PurePosixPath()


def _set_env(state: _State, d: Directive) -> None:
    key = _text(state, d, 0, "name")
    if len(d.args) < 2:
        raise state.error(d.line, "set_env needs a name and a value", "write set_env 'NAME', 'v'")
    state.env[key] = _scalar(d.args[1])


def _pip(state: _State, d: Directive) -> None:
    package = _text(state, d, 0, "package")
    version = _scalar(d.args[1]).strip() if len(d.args) > 1 else ""
    if version and version[0] not in "=<>!~":
        version = "==" + version
    state.pips.append((package + version, d.line))


def _requirements(state: _State, d: Directive) -> None:
    state.requirements = (_path(state, _text(state, d, 0, "file")), d.line)


def _gem(state: _State, d: Directive) -> None:
    gem = _text(state, d, 0, "gem")
    version = f", '{_scalar(d.args[1])}'" if len(d.args) > 1 else ""
    state.note(
        d.line,
        f"gem '{gem}' is not carried over: ironship installs a ruby worker's gems from the "
        "Gemfile.lock beside its entry",
        f"add gem '{gem}'{version} to a Gemfile in the worker's root, run 'bundle lock' there "
        "and start the worker with require 'bundler/setup'",
    )


def _gemfile(state: _State, d: Directive) -> None:
    state.gemfile = (_path(state, _text(state, d, 0, "path")), d.line)
    if len(d.args) > 1:
        groups = ", ".join(_scalar(a) for a in d.args[1:])
        state.note(
            d.line,
            f"gemfile's groups ({groups}) are not carried over",
            "ironship installs every group but development and test: move the gems the "
            "worker needs out of other groups",
        )


def _unsupported(message: str, hint: str) -> Callable[[_State, Directive], None]:
    def handle(state: _State, d: Directive) -> None:
        state.note(d.line, f"{d.name}: {message}", hint)

    return handle


def _unknown(state: _State, d: Directive) -> None:
    state.note(
        d.line,
        f"unknown directive '{d.name}' is not carried over",
        "set what it does in ironship.yml by hand ('ironship schema' lists every key)",
    )


_HANDLERS: dict[str, Callable[[_State, Directive], None]] = {
    "runtime": _runtime,
    "stack": _stack,
    "name": _name,
    "exec": _exec,
    "file": _file,
    "dir": _dir,
    "set_env": _set_env,
    "pip": _pip,
    "requirements": _requirements,
    "gem": _gem,
    "gemfile": _gemfile,
    "deb": _unsupported(
        "Debian packages are not carried over",
        "extract the files the worker needs (dpkg -x FILE.deb DIR) into the worker's folder "
        "and ship them; the runtime has no apt",
    ),
    "zip": _unsupported(
        "zip archives are not merged",
        "unzip it into the worker's folder so its files ship with the worker",
    ),
    "jar": _unsupported(
        "jar files are for the java runtime, which ironship does not deploy",
        "ship the worker as a binary or sh worker that starts java itself",
    ),
    "full_remote_build": _unsupported(
        "remote builds are not needed",
        "ironship installs dependencies on the deploying machine for the IronWorker platform "
        "(manylinux wheels, npm ci for linux-x64, Bundler for x86_64-linux); delete the line",
    ),
    "remote": _unsupported(
        "remote builds are not needed",
        "ironship installs dependencies on the deploying machine for the IronWorker platform "
        "(manylinux wheels, npm ci for linux-x64, Bundler for x86_64-linux); delete the line",
    ),
    "build": _unsupported(
        "build commands are not run",
        "npm dependencies install from package.json and package-lock.json beside the entry "
        "(npm ci); run any other build step before 'ironship apply' and ship its output",
    ),
    "iron_io_config": _unsupported(
        "the iron.json of the deploying machine is not shipped",
        "give the worker the credentials it needs through config: or env: in ironship.yml "
        "(with ${secret:…} for tokens)",
    ),
}


def _entry(state: _State, project: Path, exec_item: _Item) -> dict[str, Any]:
    items = [exec_item, *state.items]
    root = _root(state, items, project)
    entry: dict[str, Any] = {}
    rel_root = root.relative_to(project).as_posix()
    if rel_root != ".":
        entry["root"] = rel_root
    entry["entry"] = exec_item.source.relative_to(root).as_posix()
    entry["runtime"] = state.runtime or _runtime_of(state, exec_item)
    if state.stack:
        entry["stack"] = state.stack
    entry["include"] = [_pattern(item, root) for item in items]
    _dependencies(state, entry, root, project)
    if state.env:
        entry["env"] = dict(state.env)
    return entry


def _runtime_of(state: _State, exec_item: _Item) -> str:
    """iron_worker_ng's default runtime is ruby; an entry with another extension says more."""
    by_suffix = {".py": "python", ".php": "php", ".js": "node", ".sh": "sh", ".rb": "ruby"}
    runtime = by_suffix.get(exec_item.source.suffix)
    if runtime is None:
        raise state.error(
            exec_item.line,
            f"no runtime directive, and '{exec_item.source.name}' does not say which runtime "
            "runs it",
            f"add runtime 'python' (or one of: {', '.join(RUNTIMES)})",
        )
    return runtime


def _root(state: _State, items: list[_Item], project: Path) -> Path:
    """The folder where every item already sits at its package path, else the nearest folder
    holding them all (with a warning for each item that ships elsewhere)."""
    for item in items:
        if not item.source.is_relative_to(project):
            raise state.error(
                item.line,
                f"'{item.source}' is outside {project}, the folder of the manifest",
                "a worker ships files from under the manifest's folder: write ironship.yml "
                "in a folder that holds them (-f ../ironship.yml), or move the files",
            )
    roots = {_implied_root(item) for item in items}
    root = roots.pop() if len(roots) == 1 else None
    if root is None or not root.is_relative_to(project):
        folders = [item.source if item.kind == "dir" else item.source.parent for item in items]
        root = Path(os.path.commonpath(folders))
    for item in items:
        shipped = item.source.relative_to(root).as_posix()
        if shipped != item.dest.as_posix():
            state.note(
                item.line,
                f"'{item.dest}' ships as '{shipped}' (ironship ships the worker's folder "
                f"{_shown(root, project)} as it is)",
                "move the file to where the worker expects it, or change the paths the "
                "worker's code uses",
            )
    return root


def _implied_root(item: _Item) -> Path | None:
    parts = item.dest.parts
    source = item.source
    if not parts or source.parts[-len(parts) :] != parts:
        return None
    return Path(*source.parts[: -len(parts)]) if len(source.parts) > len(parts) else None


def _shown(root: Path, project: Path) -> str:
    rel = root.relative_to(project).as_posix()
    return "(the manifest's folder)" if rel == "." else rel


def _pattern(item: _Item, root: Path) -> str:
    rel = item.source.relative_to(root).as_posix()
    return "/" + rel + ("/" if item.kind == "dir" else "")


def _dependencies(state: _State, entry: dict[str, Any], root: Path, project: Path) -> None:
    if state.requirements is not None:
        path, line = state.requirements
        entry["requirements"] = os.path.relpath(path, root).replace(os.sep, "/")
        for requirement, pip_line in state.pips:
            state.note(
                pip_line,
                f"pip '{requirement}' is not carried over beside requirements (line {line})",
                f"add {requirement} to {entry['requirements']}: ironship installs one "
                "requirements file or one list",
            )
    elif state.pips:
        entry["requirements"] = [requirement for requirement, _ in state.pips]
    if state.gemfile is not None:
        _gemfile_place(state, root, project)


def _gemfile_place(state: _State, root: Path, project: Path) -> None:
    assert state.gemfile is not None
    path, line = state.gemfile
    if path != root / "Gemfile":
        state.note(
            line,
            f"gemfile '{path.name}' is not where ironship looks for it",
            f"ironship installs the Gemfile and Gemfile.lock in the worker's root "
            f"{_shown(root, project)}: move them there",
        )
    elif not (root / "Gemfile.lock").is_file():
        state.note(
            line,
            "gemfile: the Gemfile has no Gemfile.lock beside it",
            f"run 'bundle lock' in {root} and commit Gemfile.lock: ironship installs exactly "
            "the lock",
        )
