"""Read YAML into plain JSON-like data while remembering where every key and value sits.

``yaml.safe_load`` forgets positions and silently keeps the last of two equal keys, so we
compose the node tree ourselves (docs/architecture.md, Conventions 2): every value and key gets
a Location under its JSON path, duplicate keys are reported at every line they appear on, and
YAML syntax errors become located problems instead of tracebacks.

The data keeps the last occurrence of a duplicated key (as YAML would), but the earlier ones
are not thrown away: each becomes a ``Document.variants`` entry (the same document with that
occurrence in place, located at its own lines), so validation can show their problems too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from ironship.errors import IronshipError
from ironship.manifest.models import Location

Key = str | int
JsonPath = tuple[Key, ...]

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Aliases can expand exponentially ("billion laughs"); a manifest never needs this many values.
_MAX_VALUES = 200_000
# Each earlier occurrence of a duplicated key is validated as one more whole document.
_MAX_VARIANTS = 50
_QUOTED_STYLES = ("'", '"')
_T = TypeVar("_T")


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
    quoted: Set[JsonPath] = frozenset()  # scalars written in '…' or "…"
    # The document with an earlier occurrence of a duplicated key in place of the last one:
    # one per earlier occurrence, positions and all (their own problems and variants are empty).
    variants: tuple[Document, ...] = ()

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


# Far above any real manifest (the largest examples are a few KB); parsing 59 MB of YAML took
# 45 s, so a bigger file is refused before it is parsed.
MAX_MANIFEST_BYTES = 4 * 2**20


def read_yaml(path: Path) -> Document:
    """Read ``path``; problems (syntax, duplicates, odd tags) are in ``Document.problems``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
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
    if len(raw) > MAX_MANIFEST_BYTES:
        raise IronshipError(
            f"{path} is larger than {MAX_MANIFEST_BYTES // 2**20} MB, the most ironship reads "
            "as a manifest or secrets file",
            hint="a manifest describes workers, it does not hold data: move large values to "
            "files the workers package, or split the file",
        )
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
        # libyaml composes ~10x faster and gives the same nodes and marks (a plain scalar's
        # style is "" there, None here: neither is a quoted style). It also refuses nesting
        # deeper than 1,000 levels. Any error is produced again by the pure-Python parser,
        # so every message stays the one users and tests know.
        root = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        root = None
    else:
        if root is not None:
            return _document(root, file)
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
    return _document(root, file)


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _document(root: Node, file: Path) -> Document:
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
    layer = builder.layer
    variants = (_variant(file, data, layer, stack) for stack in builder.variants)
    return Document(
        file,
        data,
        layer.values,
        layer.keys,
        layer.raw,
        tuple(builder.problems),
        frozenset(layer.quoted),
        tuple(v for v in variants if v is not None),
    )


def plain_value(text: str) -> Any:
    """What ``text`` would mean written as a plain (unquoted) YAML scalar: ``'3'`` -> ``3``."""
    # (True, False): the scalar is plain, as the implicit resolvers of YAML 1.1 expect.
    tag = Resolver().resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    try:
        return SafeConstructor().construct_object(ScalarNode(tag, text))
    except (ConstructorError, ValueError):
        return text


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


@dataclass
class _Layer:
    """Positions recorded while building: the document's own, or one shadowed occurrence's."""

    values: dict[JsonPath, Location] = field(default_factory=dict)
    keys: dict[JsonPath, Location] = field(default_factory=dict)
    raw: dict[JsonPath, str] = field(default_factory=dict)
    quoted: set[JsonPath] = field(default_factory=set)


@dataclass
class _Shadow:
    """An earlier occurrence of a duplicated key: its value and positions, under ``path``."""

    path: JsonPath
    layer: _Layer
    data: Any = None


class _Gone(Exception):
    pass


def _variant(file: Path, data: Any, layer: _Layer, stack: tuple[_Shadow, ...]) -> Document | None:
    """The document with each shadowed occurrence of ``stack`` (outermost first) put in place."""
    values, keys, raw, quoted = layer.values, layer.keys, layer.raw, layer.quoted
    for shadow in stack:
        try:
            data = _replace(data, shadow.path, shadow.data)
        except _Gone:
            return None
        values = _swap(values, shadow.path, shadow.layer.values)
        keys = _swap(keys, shadow.path, shadow.layer.keys)
        raw = _swap(raw, shadow.path, shadow.layer.raw)
        size = len(shadow.path)
        quoted = {p for p in quoted if p[:size] != shadow.path} | shadow.layer.quoted
    return Document(file, data, values, keys, raw, quoted=frozenset(quoted))


def _swap(table: dict[JsonPath, _T], path: JsonPath, new: dict[JsonPath, _T]) -> dict[JsonPath, _T]:
    """``table`` with everything at or under ``path`` replaced by ``new``."""
    return {p: v for p, v in table.items() if p[: len(path)] != path} | new


def _replace(data: Any, path: JsonPath, value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``path`` (only the containers on the way are copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict) and isinstance(head, str) and head in data:
        changed: dict[str, Any] = dict(data)
        changed[head] = _replace(data[head], rest, value)
        return changed
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        items = list(data)
        items[head] = _replace(data[head], rest, value)
        return items
    raise _Gone


class _Builder:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.layer = _Layer()  # where positions go: the document's, or a shadow's while built
        self.problems: list[Problem] = []
        self.variants: list[tuple[_Shadow, ...]] = []  # each: shadows to apply, outermost first
        self._constructor = SafeConstructor()
        self._checked: set[int] = set()  # mapping nodes already checked for duplicate keys
        self._shadowed: dict[int, frozenset[int]] = {}  # mapping node -> its earlier key nodes
        self._stack: tuple[_Shadow, ...] = ()  # the shadows being built, outermost first
        self._count = 0

    def build(self, node: Node, path: JsonPath, active: frozenset[int]) -> Any:
        self._count += 1
        if self._count > _MAX_VALUES:
            raise _TooBig
        self.layer.values[path] = _loc(self.file, node)
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
        self.layer.raw[path] = node.value
        if node.style in _QUOTED_STYLES:
            self.layer.quoted.add(path)
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
            self._shadowed[id(node)] = self._check_duplicates(node, path)
            try:
                # Resolves `<<: *anchor` merge keys in place (explicit keys stay last and win).
                self._constructor.flatten_mapping(node)
            except ConstructorError as exc:
                mark = exc.problem_mark
                where = Location(self.file, mark.line + 1, mark.column + 1) if mark else None
                self.problems.append(Problem(where, path, f"bad merge key: {exc.problem}"))
                node.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        shadowed = self._shadowed.get(id(node), frozenset())
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be a plain string")
                continue
            # Keys are taken literally: a worker named 2024 or an env key `yes` stays a string.
            key = key_node.value
            if id(key_node) in shadowed:
                self._shadow(key_node, value_node, (*path, key), active)
                continue
            self.layer.keys[(*path, key)] = _loc(self.file, key_node)
            result[key] = self.build(value_node, (*path, key), active)
        return result

    def _shadow(
        self, key_node: Node, value_node: Node, path: JsonPath, active: frozenset[int]
    ) -> None:
        """Build an earlier occurrence of a duplicated key on the side, as a variant."""
        if len(self.variants) >= _MAX_VARIANTS:
            return
        shadow = _Shadow(path, _Layer())
        shadow.layer.keys[path] = _loc(self.file, key_node)
        outer = (self.layer, self._stack)
        self.layer, self._stack = shadow.layer, (*self._stack, shadow)
        try:
            shadow.data = self.build(value_node, path, active)
            self.variants.append(self._stack)
        finally:
            self.layer, self._stack = outer

    def _check_duplicates(self, node: MappingNode, path: JsonPath) -> frozenset[int]:
        """Report each duplicated key at every line it appears on; the ids of all but the last."""
        occurrences: dict[str, list[ScalarNode]] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                occurrences.setdefault(key_node.value, []).append(key_node)
        shadowed: set[int] = set()
        for key, nodes in occurrences.items():
            if len(nodes) < 2:
                continue
            shadowed.update(id(n) for n in nodes[:-1])
            times = "twice" if len(nodes) == 2 else f"{len(nodes)} times"
            where = _where(nodes)
            if path == ("workers",):
                message = f"worker '{key}' is declared {times}, {where}"
                hint = "rename or remove one: YAML would silently keep only the last"
            else:
                message = f"key '{key}' appears {times}, {where}"
                hint = "remove one: YAML would silently keep only the last"
            for key_node in nodes:
                self.problems.append(
                    Problem(_loc(self.file, key_node), (*path, key), message, hint)
                )
        return frozenset(shadowed)

    def _problem(self, node: Node, path: JsonPath, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(_loc(self.file, node), path, message, hint))


def _where(nodes: list[ScalarNode]) -> str:
    """``at lines 3 and 9``; ``on line 4`` (a flow mapping); ``at 4:5, 4:9 and 7:3`` when mixed."""
    lines = [n.start_mark.line + 1 for n in nodes]
    if len(set(lines)) == 1:
        return f"on line {lines[0]}"
    if len(set(lines)) == len(lines):
        places, word = [str(line) for line in lines], "lines "
    else:
        places, word = [f"{n.start_mark.line + 1}:{n.start_mark.column + 1}" for n in nodes], ""
    return f"at {word}{', '.join(places[:-1])} and {places[-1]}"
