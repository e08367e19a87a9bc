"""Checks a JSON Schema can't express: files on disk, paths that leave their folder, pattern
matches, sizes, unique smoke-test names, regexes and embedded schemas (the README's manifest
rules and "Smoke tests").

Runs on raw data that may also have schema errors, so every access is guarded by isinstance:
one broken worker must not hide the problems of the others.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

from ironship.manifest.defaults import (
    DEFAULT_SMOKE_TIMEOUT,
    MATCHERS,
    MAX_JSON_BYTES,
    RUNTIMES_HINT,
    infer_runtime,
    setting_path,
    smoke_payload,
    worker_settings,
)
from ironship.manifest.dependencies import dependency_problems
from ironship.manifest.scheduling import schedule_problems
from ironship.manifest.yamlpos import Document, JsonPath, Problem, format_path

# Most file systems allow at most 255 bytes per name (NAME_MAX on Linux, macOS and Windows).
MAX_NAME_BYTES = 255
_JSON_TYPES = "string, number, integer, boolean, object, array, null"


def semantic_problems(doc: Document, manifest_dir: Path) -> list[Problem]:
    """Every non-schema problem of the manifest read into ``doc`` from ``manifest_dir``."""
    data = doc.data if isinstance(doc.data, Mapping) else {}
    defaults = _mapping(data.get("defaults"))
    workers = _mapping(data.get("workers"))
    checker = _Checker(doc, manifest_dir.resolve())
    for name, worker in workers.items():
        if isinstance(worker, Mapping):
            checker.worker(name, worker, defaults)
    return checker.finish()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class _Checker:
    def __init__(self, doc: Document, base: Path) -> None:
        self.doc = doc
        self.base = base
        self.problems: list[Problem] = []
        self._files: dict[Path, list[str]] = {}  # root -> its files, walked once per root
        # A pattern under `defaults:` need only match something in one of the workers.
        self._default_patterns: dict[JsonPath, tuple[str, bool]] = {}

    def add(
        self, path: JsonPath, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        problem = Problem(self.doc.at(path, key=key), path, message, hint)
        # A bad default would otherwise be reported once per worker.
        same = (problem.location, path, message)
        if all((p.location, p.path, p.message) != same for p in self.problems):
            self.problems.append(problem)

    def finish(self) -> list[Problem]:
        for path, (pattern, matched) in self._default_patterns.items():
            if not matched:
                message = f"pattern '{pattern}' matches no file under any worker's root"
                self.add(path, message, "default patterns are relative to each worker's root")
        return self.problems

    def worker(self, name: str, worker: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        settings = worker_settings(defaults, worker)
        for key in ("payload", "config"):
            if key in settings:
                self.size(setting_path(worker, name, key), key, settings[key])
        smoke = worker.get("smoke")
        if isinstance(smoke, list):
            self.smoke(name, smoke, settings.get("payload"))
        schedules = worker.get("schedules")  # README "Schedules"
        if isinstance(schedules, list):
            schedule_problems(self.doc, self.add, name, schedules, settings.get("payload"))
        entry = settings.get("entry")
        unknown = isinstance(entry, str) and entry and infer_runtime(entry) is None
        if unknown and "runtime" not in settings:
            hint = f"add 'runtime:' ({RUNTIMES_HINT})"
            self.add(("workers", name, "entry"), f"can't tell the runtime of '{entry}'", hint)
        root = self.root(setting_path(worker, name, "root"), settings.get("root", "."))
        # README "Workers with dependencies": requirements file, pip_args, stack.
        dependency_problems(self.add, worker, name, settings, root, self.base)
        if root is None:
            return
        shown = _label(settings.get("root", "."))
        entry_ok = isinstance(entry, str) and self.entry(name, root, shown, entry)
        for key in ("include", "exclude"):
            patterns = settings.get(key)
            if isinstance(patterns, list):
                self.patterns(setting_path(worker, name, key), root, shown, patterns)
        if entry_ok and isinstance(entry, str):
            self.entry_selected(worker, name, entry, settings)

    def root(self, path: JsonPath, value: Any) -> Path | None:
        """The resolved root, or None (with a problem) when it can't hold a worker."""
        if not isinstance(value, str) or not value:
            return None
        folder = self.doc.file.parent
        shown = f"'{folder}'" if folder != Path(".") else "(the current folder)"
        hint = f"root is relative to the manifest's folder {shown}"
        if self.unusable_path(path, value, "folder name"):
            return None
        if os.path.isabs(value):
            self.add(path, f"'{value}' is an absolute path", hint)
            return None
        resolved = (self.base / value).resolve()
        if not resolved.is_relative_to(self.base):
            how = "" if ".." in PurePosixPath(value).parts else " through a symlink"
            message = f"'{value}' leaves the manifest's folder{how}"
            self.add(path, message, "keep every worker in the manifest's folder or below it")
            return None
        if not resolved.exists():
            self.add(
                path, f"folder '{value}' does not exist", _did_you_mean(value, self.base, hint)
            )
            return None
        if not resolved.is_dir():
            self.add(path, f"'{value}' is not a folder", hint)
            return None
        return resolved

    def unusable_path(self, path: JsonPath, value: str, what: str) -> bool:
        """A NUL byte or a component longer than a file system allows: no file can have it."""
        if "\0" in value:
            self.add(path, f"{value!r} holds a NUL byte", f"a {what} cannot contain \\0")
            return True
        for part in PurePosixPath(value).parts:
            size = len(part.encode("utf-8", "surrogateescape"))
            if size > MAX_NAME_BYTES:
                shown = f"'{part[:40]}…'"
                message = f"the path component {shown} is {size} bytes long"
                hint = f"a {what} has at most {MAX_NAME_BYTES} bytes per component"
                self.add(path, message, hint)
                return True
        return False

    def entry(self, name: str, root: Path, shown: str, entry: str) -> bool:
        path: JsonPath = ("workers", name, "entry")
        hint = f"paths are relative to the worker's root {shown}"
        if not entry or self.unusable_path(path, entry, "file name"):
            return False
        if os.path.isabs(entry):
            self.add(path, f"'{entry}' is an absolute path", hint)
            return False
        target = (root / entry).resolve()
        if not target.is_relative_to(root):
            how = "" if ".." in PurePosixPath(entry).parts else " through a symlink"
            self.add(path, f"'{entry}' leaves the worker's root{how}", hint)
            return False
        if not target.exists():
            candidates = self.files(root)
            close = difflib.get_close_matches(entry, candidates, n=1, cutoff=0.6)
            more = f"; did you mean '{close[0]}'?" if close else ""
            self.add(path, f"'{entry}' does not exist", hint + more)
            return False
        if not target.is_file():
            self.add(path, f"'{entry}' is not a file", hint)
            return False
        return True

    def patterns(self, path: JsonPath, root: Path, shown: str, patterns: list[Any]) -> None:
        hint = f"patterns are gitignore-style, relative to the worker's root {shown}"
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, str) or not pattern:
                continue
            here = (*path, index)
            body = pattern[1:] if pattern.startswith("!") else pattern
            if ".." in body.strip("/").split("/"):
                self.add(here, f"pattern '{pattern}' leaves the worker's root", hint)
                continue
            from pathspec import GitIgnoreSpec  # only for a manifest with patterns
            from pathspec.patterns.gitignore import GitIgnorePatternError

            try:
                spec = GitIgnoreSpec.from_lines([body])
            except GitIgnorePatternError as exc:
                self.add(here, f"invalid pattern '{pattern}': {exc}", hint)
                continue
            matched = any(spec.match_file(f) for f in self.each_file(root))
            if path[0] == "defaults":
                before = self._default_patterns.get(here, (pattern, False))[1]
                self._default_patterns[here] = (pattern, before or matched)
            elif not matched:
                self.add(here, f"pattern '{pattern}' matches no file under {shown}", hint)

    def entry_selected(
        self, worker: Mapping[str, Any], name: str, entry: str, settings: Mapping[str, Any]
    ) -> None:
        """The entry must be in the package, or the upload could never run."""
        normal = PurePosixPath(entry).as_posix()
        hint = "the package would not contain the file IronWorker runs"
        include, exclude = settings.get("include"), settings.get("exclude")
        if _strings(include) and _matches(include, normal) is False:
            message = f"no pattern includes the entry '{normal}'"
            self.add(setting_path(worker, name, "include"), message, hint)
        if _strings(exclude) and _matches(exclude, normal) is True:
            message = f"excludes the entry '{normal}'"
            self.add(setting_path(worker, name, "exclude"), message, hint)

    def each_file(self, root: Path) -> Iterator[str]:
        """The files of ``files(root)``, read lazily: a pattern that matches a file near the
        top of a big tree is answered without listing the rest of it."""
        if root in self._files:
            yield from self._files[root]
            return
        top = len(os.path.join(root, ""))
        for folder, _dirs, names in os.walk(root):
            rel = folder[top:].replace(os.sep, "/")
            prefix = rel + "/" if rel else ""
            for name in names:
                yield prefix + name

    def files(self, root: Path) -> list[str]:
        """Every file under ``root``, posix and relative to it; symlinked folders not followed."""
        if root not in self._files:
            found: list[str] = []
            top = len(os.path.join(root, ""))
            for folder, _dirs, names in os.walk(root):
                # plain strings: pathlib costs more than the walk on a monorepo
                rel = folder[top:].replace(os.sep, "/")
                prefix = rel + "/" if rel else ""
                found.extend(prefix + n for n in names)
            self._files[root] = sorted(found)
        return self._files[root]

    def size(self, path: JsonPath, what: str, value: Any) -> None:
        size = len(json.dumps(value).encode("utf-8"))
        if size > MAX_JSON_BYTES:
            message = f"{what} is {size} bytes as JSON; IronWorker accepts at most {MAX_JSON_BYTES}"
            self.add(path, message, f"keep the {what} under 64 KB: pass large data by reference")

    def smoke(self, name: str, tests: list[Any], worker_payload: Any) -> None:
        seen: dict[str, int] = {}
        for index, test in enumerate(tests):
            if not isinstance(test, Mapping):
                continue
            path: JsonPath = ("workers", name, "smoke", index)
            test_name = test.get("name")
            if isinstance(test_name, str):
                if test_name in seen:
                    first = self.doc.at((*path[:-1], seen[test_name], "name")).line
                    message = f"smoke test name '{test_name}' is already used on line {first}"
                    self.add((*path, "name"), message, "give each test of a worker its own name")
                else:
                    seen[test_name] = index
            if "payload" in test:
                self.size((*path, "payload"), "payload", smoke_payload(worker_payload, test))
            self.output((*path, "output"), test.get("output"))
            log = test.get("log")
            if isinstance(log, Mapping):
                if not log:
                    hint = "add one of: contains, not_contains, matches"
                    self.add(
                        (*path, "log"), "no matcher: the log would not be checked", hint, key=True
                    )
                self.regexes((*path, "log", "matches"), log.get("matches"))
            self.duration(path, test)

    def output(self, path: JsonPath, output: Any) -> None:
        if not isinstance(output, Mapping):
            return
        if not any(key in output for key in MATCHERS):
            hint = f"add one of: {', '.join(MATCHERS)}"
            self.add(path, "no matcher: the output would not be checked", hint, key=True)
        self.regexes((*path, "matches"), output.get("matches"))
        schema = output.get("schema")
        if isinstance(schema, Mapping | bool):
            self.embedded_schema(path, schema)

    def embedded_schema(self, path: JsonPath, schema: Mapping[str, Any] | bool) -> None:
        # jsonschema is loaded only for a manifest that embeds a schema (verdicts.py says why).
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        from ironship.manifest.localschema import unresolved_refs

        meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        error = best_match(meta.iter_errors(schema))
        if error is not None:
            inner = (*path, "schema", *error.absolute_path)
            where = format_path(tuple(error.absolute_path)) or "the schema"
            text = error.message
            if error.validator == "anyOf" and list(error.absolute_path)[-1:] == ["type"]:
                text = f"{error.instance!r} is not a JSON Schema type ({_JSON_TYPES})"
            message = f"not a valid JSON Schema: {where}: {text}"
            self.add(inner, message, "see https://json-schema.org/draft/2020-12")
            return
        for at, ref, why in unresolved_refs(schema):
            message = f"$ref {ref!r} cannot be resolved: {why}"
            hint = "define it under $defs in this schema and refer to it as #/$defs/NAME"
            self.add((*path, "schema", *at), message, hint)

    def regexes(self, path: JsonPath, value: Any) -> None:
        items = [(path, value)] if isinstance(value, str) else []
        if isinstance(value, list):
            items = [((*path, i), v) for i, v in enumerate(value) if isinstance(v, str)]
        for here, pattern in items:
            try:
                re.compile(pattern)
            except re.error as exc:
                message = f"invalid regular expression: {exc.msg} at position {exc.pos}"
                self.add(here, message, "Python re syntax; quote the value with ' in YAML")

    def duration(self, path: JsonPath, test: Mapping[str, Any]) -> None:
        limit, timeout = test.get("max_duration"), test.get("timeout", DEFAULT_SMOKE_TIMEOUT)
        if _is_number(limit) and _is_number(timeout) and limit > timeout:
            message = f"max_duration {limit:g} is longer than the test's timeout {timeout:g}"
            self.add((*path, "max_duration"), message, "raise the timeout or lower max_duration")


def _label(root: str) -> str:
    return "(the manifest's folder)" if PurePosixPath(root) == PurePosixPath(".") else f"'{root}'"


def _matches(patterns: list[str], path: str) -> bool | None:
    """Whether the gitignore-style ``patterns`` match ``path``; None when one is invalid."""
    from pathspec import GitIgnoreSpec
    from pathspec.patterns.gitignore import GitIgnorePatternError

    try:
        return bool(GitIgnoreSpec.from_lines(patterns).match_file(path))
    except GitIgnorePatternError:
        return None  # reported per pattern


def _strings(value: Any) -> TypeGuard[list[str]]:
    """A non-empty list of strings (anything else is the schema's to report)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _did_you_mean(value: str, base: Path, hint: str) -> str:
    parent = (base / value).parent
    if not parent.is_dir():
        return hint
    folders = [p.name for p in parent.iterdir() if p.is_dir()]
    close = difflib.get_close_matches(Path(value).name, folders, n=1, cutoff=0.6)
    if not close:
        return hint
    suggestion = (Path(value).parent / close[0]).as_posix()
    return f"{hint}; did you mean '{suggestion}'?"
