"""What ``ironship init`` writes: a scaffold for an empty folder, or a proposal of one worker
per entry file found in a folder of existing scripts (README "Writing workers").

The scaffold's worker reads its payload the way IronWorker hands it over in each language
(docs/ironworker-api.md §6; README "Runtimes on the local engine") and prints its result
between MAGICALSTDOUTSEPARATOR markers, so the smoke test written beside it passes on the
local engine and on IronWorker alike.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironship.manifest.defaults import infer_runtime

SCAFFOLD_RUNTIMES = ("python", "php", "node", "ruby", "sh")
EXTENSIONS = {".py": "python", ".php": "php", ".js": "node", ".rb": "ruby", ".sh": "sh"}
SEPARATOR = "MAGICALSTDOUTSEPARATOR"
GITIGNORE_LINE = ".ironship/"

# Folders that hold installed or generated code, never a worker's entry.
SKIP_DIRS = frozenset(
    {
        "node_modules",
        "vendor",
        "__pips__",
        "__pycache__",
        "venv",
        "env",
        "site-packages",
        "dist",
        "build",
        "test",
        "tests",
        "spec",
        "examples",
    }
)
NOT_ENTRIES = re.compile(
    r"^(test_.*\.py|.*_test\.(py|rb)|conftest\.py|setup\.py|__init__\.py|__main__\.py|"
    r".*\.(test|spec|config)\.js|.*_spec\.rb|__runner__\.sh)$"
)
ENTRY_HINTS = re.compile(
    r"__name__\s*==\s*['\"]__main__['\"]|payload|node_helper|TASK_ID|getArgs|\bparams\b|"
    r"\bARGV\b|sys\.argv|process\.argv|\$argv",
    re.IGNORECASE,
)
MAX_DEPTH = 3
MAX_FILE_BYTES = 256 * 1024

_PY = '''"""The {name} worker: greets whoever the payload names.

IronWorker (and the local engine) starts it as
``python {entry} -payload FILE -id TASK_ID -d TASK_DIR``: the payload is a JSON file.
It prints its result between MAGICALSTDOUTSEPARATOR markers for smoke tests and scripts.
"""

import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-payload", dest="payload_file")
    parser.add_argument("-config", dest="config_file")
    parser.add_argument("-id", dest="task_id")
    parser.add_argument("-d", dest="task_dir")
    parser.add_argument("-e", dest="environment")
    args, _ = parser.parse_known_args()
    payload = {{}}
    if args.payload_file:
        with open(args.payload_file) as f:
            payload = json.load(f)
    name = payload.get("name", "world") if isinstance(payload, dict) else None
    if not isinstance(name, str):
        print(f"name must be a string, got {{name!r}}", file=sys.stderr)
        return 1
    result = {{"greeting": f"Hello, {{name}}!"}}
    print("{sep}" + json.dumps(result) + "{sep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

_PHP = """<?php
// The {name} worker: greets whoever the payload names.
// IronWorker's PHP runtime (and the local engine) defines getPayload(): the payload, decoded.
$payload = getPayload();
$name = isset($payload->name) ? $payload->name : "world";
if (!is_string($name)) {{
    fwrite(STDERR, "name must be a string\\n");
    exit(1);
}}
echo "{sep}" . json_encode(array("greeting" => "Hello, $name!")) . "{sep}\\n";
"""

_NODE = """// The {name} worker: greets whoever the payload names.
// IronWorker's node runtime (and the local engine) gives the parsed payload as
// require('node_helper').params.
var worker = require('node_helper');
var payload = worker.params || {{}};
var name = payload.name === undefined ? 'world' : payload.name;
if (typeof name !== 'string') {{
  console.error('name must be a string');
  process.exit(1);
}}
console.log('{sep}' + JSON.stringify({{greeting: 'Hello, ' + name + '!'}}) + '{sep}');
"""

_RUBY = """# The {name} worker: greets whoever the payload names.
# IronWorker's ruby runtime (and the local engine) gives the parsed payload as `params`.
require 'json'

payload = params.is_a?(Hash) ? params : {{}}
name = payload.fetch('name', 'world')
unless name.is_a?(String)
  warn 'name must be a string'
  exit 1
end
puts '{sep}' + JSON.generate('greeting' => "Hello, #{{name}}!") + '{sep}'
"""

_SH = """#!/bin/sh
# The {name} worker: answers with the payload it was given.
# IronWorker (and the local engine) starts it with -payload FILE -id TASK_ID -d TASK_DIR;
# the payload file is also in $PAYLOAD_FILE.
payload_file="$PAYLOAD_FILE"
while [ $# -gt 1 ]; do
  if [ "$1" = "-payload" ]; then
    payload_file="$2"
  fi
  shift 2
done
printf '{sep}{{"greeting": "Hello from sh", "payload": %s}}{sep}\\n' "$(cat "$payload_file")"
"""

_TEMPLATES = {
    "python": ("py", _PY),
    "php": ("php", _PHP),
    "node": ("js", _NODE),
    "ruby": ("rb", _RUBY),
    "sh": ("sh", _SH),
}

_MANIFEST = """# Written by `ironship init`. Deploy to the local engine and run the smoke test:
#   ironship apply --smoke -y
# then queue a task:  ironship queue {name} --payload '{{"name": "you"}}' --wait
version: 1

workers:
  {name}:
    root: workers/{name}
    entry: {entry}
    runtime: {runtime}
    payload: {{name: world}}      # the default payload; --payload is merged over it
    timeout: 60
    smoke:
      - name: greets
        output:
          equals: {expected}
"""


@dataclass(frozen=True)
class Scaffold:
    """The files of a new project, by path relative to the project folder."""

    files: dict[str, str]
    manifest: str
    entry: str


def scaffold(runtime: str, name: str) -> Scaffold:
    """A working one-worker project in ``runtime``, its worker called ``name``."""
    suffix, template = _TEMPLATES[runtime]
    entry = f"{name}.{suffix}"
    source = template.format(name=name, entry=entry, sep=SEPARATOR)
    if runtime == "sh":
        expected = '{greeting: "Hello from sh", payload: {name: world}}'
    else:
        expected = '{greeting: "Hello, world!"}'
    manifest = _MANIFEST.format(name=name, entry=entry, runtime=runtime, expected=expected)
    return Scaffold({f"workers/{name}/{entry}": source}, manifest, f"workers/{name}/{entry}")


def gitignore_text(existing: str | None) -> str | None:
    """The .gitignore with ``.ironship/`` in it, or None when it already has it."""
    if existing is None:
        return f"# ironship's local state (engine data, caches)\n{GITIGNORE_LINE}\n"
    lines = {line.strip() for line in existing.splitlines()}
    if lines & {".ironship", ".ironship/", "/.ironship", "/.ironship/"}:
        return None
    tail = "" if not existing or existing.endswith("\n") else "\n"
    return f"{existing}{tail}{GITIGNORE_LINE}\n"


@dataclass(frozen=True)
class Proposal:
    """Workers proposed for the entry files found, and what to tell the user about them."""

    workers: dict[str, dict[str, Any]]
    notes: tuple[str, ...]
    worker_files: tuple[str, ...]


def propose(project: Path) -> Proposal:
    """One worker per entry file under ``project`` (runtime, root, include, requirements).

    An entry is a script that reads a payload, runs as a program (a ``__main__`` guard, a
    ``#!`` line) or is its package.json's ``main``; when no script anywhere looks like that,
    every script is proposed. Tests, ``__init__.py`` and the like never are.
    """
    found = [(folder, files, _candidates(folder, files)) for folder, files in _folders(project)]
    strict = any(entry for _, _, (entries, _) in found for entry in entries)
    workers: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    workerfiles: list[str] = []
    for folder, files, (entries, others) in found:
        workerfiles += [_rel(folder / f, project) for f in files if f.endswith(".worker")]
        if not strict:
            entries, others = others, []
        for entry in entries:
            runtime = infer_runtime(entry) or "sh"
            spec = _worker(project, folder, entry, runtime, entries, others, notes)
            workers[_unique(_name(entry), folder, workers)] = spec
    return Proposal(workers, tuple(notes), tuple(workerfiles))


def _folders(project: Path) -> list[tuple[Path, list[str]]]:
    """Folders to look in, top-down; a worker's folder (other than the project) ends the
    descent, since what lies below it ships with that worker."""
    out: list[tuple[Path, list[str]]] = []
    for current, dirs, files in os.walk(project):
        here = Path(current)
        depth = len(here.relative_to(project).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        visible = sorted(f for f in files if not f.startswith("."))
        out.append((here, visible))
        scripts = [f for f in visible if Path(f).suffix in EXTENSIONS]
        if here != project and any(_looks_like_entry(here / f) for f in scripts):
            dirs[:] = []
    return out


def _candidates(folder: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """(entries, other scripts) of one folder."""
    scripts = [f for f in files if Path(f).suffix in EXTENSIONS and not NOT_ENTRIES.match(f)]
    main = _package_main(folder)
    entries = [
        s
        for s in scripts
        if s == main or (_looks_like_entry(folder / s) and not (main and s.endswith(".js")))
    ]
    return entries, [s for s in scripts if s not in entries]


def _looks_like_entry(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head.startswith("#!") or ENTRY_HINTS.search(head) is not None


def _package_main(folder: Path) -> str | None:
    try:
        doc = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    main = doc.get("main") if isinstance(doc, dict) else None
    return main.removeprefix("./") if isinstance(main, str) else None


def _worker(
    project: Path,
    folder: Path,
    entry: str,
    runtime: str,
    entries: list[str],
    helpers: list[str],
    notes: list[str],
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if folder != project:
        spec["root"] = _rel(folder, project)
    spec["entry"] = entry
    spec["runtime"] = runtime
    if folder == project or len(entries) > 1:
        same = [h for h in helpers if Path(h).suffix == Path(entry).suffix]
        spec["include"] = [f"/{entry}", *(f"/{h}" for h in same)]
    if runtime == "python":
        requirements = _up_to(project, folder, "requirements.txt")
        if requirements is not None:
            spec["requirements"] = os.path.relpath(requirements, folder).replace(os.sep, "/")
    _lock_notes(folder, runtime, project, notes)
    return spec


def _up_to(project: Path, folder: Path, name: str) -> Path | None:
    """``name`` in ``folder`` or the nearest folder above it, up to the project."""
    here = folder
    while True:
        if (here / name).is_file():
            return here / name
        if here == project or not here.is_relative_to(project):
            return None
        here = here.parent


def _lock_notes(folder: Path, runtime: str, project: Path, notes: list[str]) -> None:
    pairs = {
        "node": ("package.json", ("package-lock.json", "npm-shrinkwrap.json"), "npm install"),
        "ruby": ("Gemfile", ("Gemfile.lock",), "bundle lock"),
        "php": ("composer.json", ("composer.lock",), "composer update --lock"),
    }
    if runtime not in pairs:
        return
    manifest, locks, command = pairs[runtime]
    if not (folder / manifest).is_file() or any((folder / lock).is_file() for lock in locks):
        return
    if runtime == "node" and not _declares_dependencies(folder / manifest):
        return
    where = _rel(folder, project)
    shown = manifest if where == "." else f"{where}/{manifest}"
    notes.append(
        f"{shown} has no {locks[0]} beside it: run '{command}' in "
        f"{'the project folder' if where == '.' else where} before deploying (ironship "
        "installs exactly the lock)"
    )


def _declares_dependencies(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # unreadable: npm will say what is wrong
    return not isinstance(doc, dict) or bool(
        doc.get("dependencies") or doc.get("optionalDependencies")
    )


def _name(entry: str) -> str:
    stem = Path(entry).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "worker"
    return name


def _unique(name: str, folder: Path, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    prefixed = f"{_name(folder.name)}-{name}"
    candidate, n = prefixed, 2
    while candidate in taken:
        candidate, n = f"{prefixed}-{n}", n + 1
    return candidate


def _rel(path: Path, project: Path) -> str:
    return path.relative_to(project).as_posix()
