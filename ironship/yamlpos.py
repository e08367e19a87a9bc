"""Read YAML into plain JSON-like data while remembering where every key and value sits.

``yaml.safe_load`` forgets positions and silently keeps the last of two equal keys, so we
compose the node tree ourselves (CONVENTIONS §2): every value and key gets a Location under its
JSON path, duplicate keys are reported with both lines, and YAML syntax errors become located
problems instead of tracebacks.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ironship.errors import IronshipError
from ironship.model import Location

Key = str | int
JsonPath = tuple[Key, ...]

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Aliases can expand exponentially ("billion laughs"); a manifest never needs this many values.
_MAX_VALUES = 200_000


def format_path(path: JsonPath) -> str:
    """``("workers", "fib", "smoke", 0, "name")`` -> ``workers.fib.smoke[0].name``."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        elif _SIMPLE_KEY.fullmatch(key):
            text += f".{key}" if text else key
        else:
            text += f"[{json.dumps(key)}]"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifest, printed as ``FILE:LINE:COL: path: message (hint: …)``."""

    location: Location | None
    path: JsonPath
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        dotted = format_path(self.path)
        text = f"{where}{dotted}: {self.message}" if dotted else f"{where}{self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def sort_key(self) -> tuple[int, int, str]:
        if self.location is None:
            return (0, 0, str(self))
        return (self.location.line, self.location.column, str(self))


@dataclass(frozen=True)
class Document:
    """The data of one YAML file plus the positions of its keys and values."""

    file: Path  # as the user named it, for messages
    data: Any  # None for an empty file or one that failed to parse
    values: Mapping[JsonPath, Location] = field(default_factory=dict)
    keys: Mapping[JsonPath, Location] = field(default_factory=dict)
    raw: Mapping[JsonPath, str] = field(default_factory=dict)  # scalar source text, for hints
    problems: tuple[Problem, ...] = ()

    def at(self, path: JsonPath, *, key: bool = False) -> Location:
        """Where ``path`` sits (its key with ``key=True``), else its nearest known parent."""
        while True:
            first, second = (self.keys, self.values) if key else (self.values, self.keys)
            found = first.get(path) or second.get(path)
            if found is not None:
                return found
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]


def read_yaml(path: Path) -> Document:
    """Read ``path``; problems (syntax, duplicates, odd tags) are in ``Document.problems``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IronshipError(
            f"{path} not found",
            hint=f"pass -f FILE to name the manifest (relative paths start at {Path.cwd()})",
        ) from None
    except IsADirectoryError:
        raise IronshipError(
            f"{path} is a folder, not a manifest", hint=f"pass -f {path / 'ironship.yml'}"
        ) from None
    except OSError as exc:
        raise IronshipError(f"can't read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        where = Location(path, line, column)
        problem = Problem(where, (), f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")
        return Document(path, None, problems=(problem,))
    return parse_yaml(text, path)


def parse_yaml(text: str, file: Path) -> Document:
    """Parse YAML ``text`` that came from ``file`` (used only in messages)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return Document(file, None, problems=(_syntax_problem(exc, file),))
    except yaml.YAMLError as exc:
        return Document(file, None, problems=(Problem(None, (), f"{file}: {exc}"),))
    except RecursionError:
        return Document(file, None, problems=(Problem(None, (), f"{file}: nested too deeply"),))
    if root is None:
        return Document(file, None)
    builder = _Builder(file)
    try:
        data = builder.build(root, (), frozenset())
    except RecursionError:
        return Document(file, None, problems=(Problem(None, (), f"{file}: nested too deeply"),))
    except _TooBig:
        problem = Problem(
            _loc(file, root), (), "too many values (aliases expand too far)", "use fewer aliases"
        )
        return Document(file, None, problems=(problem,))
    return Document(file, data, builder.values, builder.keys, builder.raw, tuple(builder.problems))


def _syntax_problem(exc: yaml.MarkedYAMLError, file: Path) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else None
    message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.context and exc.problem:
        message += f" ({exc.context})"
    hint = "check the indentation and quoting on this line and the one before"
    if exc.problem and "'\\t'" in exc.problem:
        hint = "YAML indents with spaces, not tabs"
    return Problem(location, (), message, hint)


class _TooBig(Exception):
    pass


def _loc(file: Path, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.values: dict[JsonPath, Location] = {}
        self.keys: dict[JsonPath, Location] = {}
        self.raw: dict[JsonPath, str] = {}
        self.problems: list[Problem] = []
        self._constructor = SafeConstructor()
        self._checked: set[int] = set()  # mapping nodes already checked for duplicate keys
        self._count = 0

    def build(self, node: Node, path: JsonPath, active: frozenset[int]) -> Any:
        self._count += 1
        if self._count > _MAX_VALUES:
            raise _TooBig
        self.values[path] = _loc(self.file, node)
        if id(node) in active:
            self._problem(node, path, "an alias refers to itself", "remove the recursive alias")
            return None
        inner = active | {id(node)}
        if isinstance(node, MappingNode):
            return self._mapping(node, path, inner)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), inner) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        self.raw[path] = node.value
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # JSON has no dates: keep what the user wrote
        try:
            value = self._constructor.construct_object(node, deep=True)
        except ConstructorError:
            self._not_json(node, path)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self._not_json(node, path, "not a finite number")
            return None
        if value is not None and not isinstance(value, str | int | float | bool):
            self._not_json(node, path)
            return None
        return value

    def _not_json(self, node: Node, path: JsonPath, why: str | None = None) -> None:
        message = why or f"YAML tag {node.tag!r} has no JSON equivalent"
        self._problem(node, path, message, "use plain strings, numbers, lists and mappings")

    def _mapping(self, node: MappingNode, path: JsonPath, active: frozenset[int]) -> dict[str, Any]:
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_duplicates(node, path)
            try:
                # Resolves `<<: *anchor` merge keys in place (explicit keys stay last and win).
                self._constructor.flatten_mapping(node)
            except ConstructorError as exc:
                mark = exc.problem_mark
                where = Location(self.file, mark.line + 1, mark.column + 1) if mark else None
                self.problems.append(Problem(where, path, f"bad merge key: {exc.problem}"))
                node.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be a plain string")
                continue
            # Keys are taken literally: a worker named 2024 or an env key `yes` stays a string.
            key = key_node.value
            self.keys[(*path, key)] = _loc(self.file, key_node)
            result[key] = self.build(value_node, (*path, key), active)
        return result

    def _check_duplicates(self, node: MappingNode, path: JsonPath) -> None:
        seen: dict[str, Location] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            here = _loc(self.file, key_node)
            first = seen.setdefault(key_node.value, here)
            if first is here:
                continue
            key = key_node.value
            if path == ("workers",):
                message = f"worker '{key}' is declared twice, at lines {first.line} and {here.line}"
                hint = "rename or remove one: YAML would silently keep only the last"
            else:
                message = f"key '{key}' appears twice, at lines {first.line} and {here.line}"
                hint = "remove one: YAML would silently keep only the last"
            self.problems.append(Problem(here, (*path, key), message, hint))

    def _problem(self, node: Node, path: JsonPath, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(_loc(self.file, node), path, message, hint))
