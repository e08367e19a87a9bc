"""ironship.yml written by ``init`` and ``import --write``: new documents, worker entries added
to an existing file as text (its comments, order and other keys kept), atomic writes.

Entries go after the last line of the file's ``workers:`` block, at the column its workers
use; positions come from PyYAML's node marks (``yaml.compose``), so nothing is re-serialised
and a reviewer's diff shows only the new lines.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ironship.errors import IronshipError
from ironship.manifest.schema import SCHEMA_NAME, schema_text
from ironship.paths import ensure_state_dir

SCHEMA_COMMENT = f"# yaml-language-server: $schema=.ironship/{SCHEMA_NAME}\n"


def write_schema(project: Path) -> Path:
    """The manifest's JSON Schema in ``.ironship/``, for the editor the ``$schema`` comment
    points at (the schema of the ironship that wrote it; ``ironship init`` refreshes it)."""
    path = ensure_state_dir(project) / SCHEMA_NAME
    path.write_text(schema_text(), encoding="utf-8")
    return path


class _Dumper(yaml.SafeDumper):
    """Mappings in block style, lists in flow style (``include: [/a.py, /lib/]``)."""


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(list, _flow_list)


def dump_entries(workers: Mapping[str, Mapping[str, Any]], indent: int = 2) -> str:
    """``name: {…}`` blocks as YAML text, each line indented by ``indent`` spaces."""
    text = yaml.dump(
        {name: dict(entry) for name, entry in workers.items()},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return "".join(" " * indent + line if line.strip() else line for line in _lines(text))


def new_document(workers: Mapping[str, Mapping[str, Any]], header: str = "") -> str:
    """A whole manifest: the ``$schema`` comment, ``header`` comment lines, version, workers."""
    return f"{SCHEMA_COMMENT}{header}version: 1\n\nworkers:\n{dump_entries(workers)}"


def existing_workers(text: str, path: Path) -> dict[str, int]:
    """The worker names ``text`` declares, with their lines (1-based)."""
    workers = _workers_node(_compose(text, path))
    if not isinstance(workers, yaml.MappingNode):
        return {}
    return {
        str(key.value): key.start_mark.line + 1
        for key, _ in workers.value
        if isinstance(key, yaml.ScalarNode)
    }


def add_entries(text: str, path: Path, workers: Mapping[str, Mapping[str, Any]]) -> str:
    """``text`` with ``workers`` added to its ``workers:`` mapping (or a new one at the end)."""
    root = _compose(text, path)
    node = _workers_node(root)
    if node is None and not _has_workers_key(root):
        tail = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{tail}\nworkers:\n{dump_entries(workers)}"
    if isinstance(node, yaml.MappingNode) and node.flow_style and node.value:
        raise IronshipError(
            f"{path}: workers is written in flow style ({{…}}); ironship adds entries only "
            "to a block mapping",
            hint="rewrite workers: as one worker per line, or run without --write and paste "
            "the printed entries",
        )
    lines = _lines(text)
    if isinstance(node, yaml.MappingNode) and node.value:
        indent = node.value[0][0].start_mark.column
        after = _last_line(node)
        return (
            "".join(lines[: after + 1])
            + dump_entries(workers, indent)
            + "".join(lines[after + 1 :])
        )
    # ``workers:`` with nothing (null) or ``{}``: its line becomes ``workers:`` and the entries.
    key_line = _workers_key_line(root)
    return (
        "".join(lines[:key_line])
        + "workers:\n"
        + dump_entries(workers)
        + "".join(lines[key_line + 1 :])
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: a reader sees the old file or the new."""
    folder = path.resolve().parent
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise IronshipError(
            f"{where}: not valid YAML ({exc.problem})",
            hint="fix the file ('ironship validate' shows every problem) and run again",
        ) from None
    except yaml.YAMLError as exc:
        raise IronshipError(f"{path}: not valid YAML ({exc})") from None


def _has_workers_key(root: yaml.Node | None) -> bool:
    if not isinstance(root, yaml.MappingNode):
        return False
    return any(isinstance(k, yaml.ScalarNode) and k.value == "workers" for k, _ in root.value)


def _workers_key_line(root: yaml.Node | None) -> int:
    assert isinstance(root, yaml.MappingNode)
    lines = [k.start_mark.line for k, _ in root.value if getattr(k, "value", None) == "workers"]
    return int(lines[0])


def _workers_node(root: yaml.Node | None) -> yaml.Node | None:
    if root is None:
        return None
    if not isinstance(root, yaml.MappingNode):
        raise IronshipError(
            f"{root.start_mark.name}: the manifest is not a mapping of keys",
            hint="an ironship.yml starts with 'version: 1' and 'workers:'",
        )
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "workers":
            found: yaml.Node = value
            return found
    return None


def _last_line(node: yaml.Node) -> int:
    """The 0-based line of the last character of ``node``'s content."""
    last = node.start_mark.line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            last = max(last, _last_line(key), _last_line(value))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            last = max(last, _last_line(item))
    else:
        end = node.end_mark
        last = max(last, end.line - 1 if end.column == 0 else end.line)
    if getattr(node, "flow_style", False):
        end = node.end_mark
        last = max(last, end.line - 1 if end.column == 0 else end.line)
    return last
