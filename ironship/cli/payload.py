"""``--payload`` arguments: inline JSON or ``@FILE``, and the size limit of what is queued.

What comes in is bounded before it is parsed: a file is read up to the 64 KB IronWorker
accepts plus one byte (so ``@/dev/zero`` stops there), nesting is limited, and only the JSON
of RFC 8259 is accepted (no ``NaN``, ``Infinity``, nor numbers too large for a double), since
what is queued must be JSON any worker can parse (https://www.rfc-editor.org/rfc/rfc8259).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError
from ironship.manifest.defaults import MAX_JSON_BYTES

# Deeper than any payload a worker needs, far below Python's recursion limit.
MAX_DEPTH = 200
_FILE_HINT = "give a JSON file path after @, e.g. --payload @payload.json"


def read_payload_arg(text: str) -> Any:
    """``--payload '{"max": 10}'`` or ``--payload @file.json``, parsed as JSON."""
    source = "--payload"
    hint = "quote the JSON for your shell, e.g. --payload '{\"max\": 10}'"
    if text.startswith("@"):
        path = Path(text[1:])
        text = _read_file(text[1:])
        source = f"--payload @{path}"
        hint = f"fix the JSON in {path}"
    return parse_payload(text, source, hint)


def parse_payload(text: str, source: str, hint: str) -> Any:
    """Strict JSON: located syntax errors, bounded depth, finite numbers only."""
    depth = _depth_problem(text)
    if depth is not None:
        raise IronshipError(
            f"{source}: JSON nested more than {MAX_DEPTH} levels deep (at character {depth})",
            hint=hint,
        )
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotJson as exc:
        raise IronshipError(f"{source}: not valid JSON: {exc}", hint=hint) from None
    except ValueError as exc:
        raise IronshipError(f"{source}: not valid JSON: {exc}", hint=hint) from None
    return value


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value (JSON numbers are finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"the number {text[:40]} is too large for a JSON number (a double)")
    return value


def _depth_problem(text: str) -> int | None:
    """The 1-based character where nesting passes MAX_DEPTH, else None (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return index + 1
        elif char in "]}":
            depth -= 1
    return None


def _read_file(name: str) -> str:
    if not name:
        raise IronshipError("--payload @: no file name after @", hint=_FILE_HINT)
    path = Path(name)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise IronshipError(
            f"--payload @{path}: cannot read the file: {exc.strerror or exc}", hint=_FILE_HINT
        ) from None
    if len(raw) > MAX_JSON_BYTES:
        raise IronshipError(
            f"--payload @{path}: the file is larger than {MAX_JSON_BYTES} bytes (64 KB), "
            "the most IronWorker accepts as a payload",
            hint="pass large data by reference (a URL or a storage key the worker fetches)",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise IronshipError(
            f"--payload @{path}:{line}:{column}: not UTF-8 text ({exc.reason})",
            hint=f"save {path} as UTF-8 JSON",
        ) from None


def payload_text(body: Any, *, given: bool) -> str:
    """The JSON string queued as the task's payload; more than IronWorker's 64 KB is an error.

    The limit is on what is sent: the worker's default payload with ``--payload`` merged in
    (docs/ironworker-api.md §1 (Transport), "Limits"). ``given`` says whether --payload took
    part, to name it in the message.
    """
    text = json.dumps(body if body is not None else {}, allow_nan=False)
    size = len(text.encode("utf-8"))
    if size > MAX_JSON_BYTES:
        what = "the payload (default merged with --payload)" if given else "the default payload"
        raise IronshipError(
            f"--payload: {what} is {size} bytes as JSON; IronWorker accepts at most "
            f"{MAX_JSON_BYTES} bytes (64 KB)",
            hint="pass large data by reference (a URL or a storage key the worker fetches)",
        )
    return text
