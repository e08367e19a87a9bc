"""Pure checks of one smoke test's outcome against its declared expectations.

The output protocol is the IronWorker tutorial's: a worker prints a separator line, its result
(usually JSON) and the separator again; the text between each pair is one output *block*.
Nothing here does I/O, so every message a user can see is tested on plain strings.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from ironship.manifest.localschema import local_registry
from ironship.manifest.models import SmokeTest

FailureKind = Literal["status", "output", "log", "duration"]
BLOCK_CHOICES = ("first", "last", "all")
DEFAULT_BLOCK = "first"  # the manifest's default too: most workers print exactly one block
OUTPUT_MATCHERS = ("equals", "subset", "schema", "contains", "matches")
LOG_MATCHERS = ("contains", "not_contains", "matches")
UNTERMINATED_NOTE = "note: the log ends with an unterminated separator block, which was ignored"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_INLINE = 80  # longest JSON value quoted inside a one-line message


@dataclass(frozen=True)
class Failure:
    """One unmet expectation; ``expected``/``received``/``diff`` are display text, when useful."""

    kind: FailureKind
    message: str
    expected: str | None = None
    received: str | None = None
    diff: str | None = None
    hint: str | None = None


def extract_blocks(log: str, separator: str) -> list[str]:
    """The texts between pairs of separators, whitespace-stripped, in log order.

    ``sep A sep junk sep B sep`` gives ``["A", "B"]``: separators pair up from the start of the
    log. With an odd count the last separator opens a block that never closes; that trailing
    text is not a block (``has_unterminated_block`` reports it for messages).
    """
    if not separator:
        raise ValueError("the output separator must not be empty")
    parts = log.split(separator)
    closed = (len(parts) - 1) // 2
    return [parts[2 * i + 1].strip() for i in range(closed)]


def has_unterminated_block(log: str, separator: str) -> bool:
    """Whether the log's last separator has no closing partner (an odd separator count)."""
    return bool(separator) and log.count(separator) % 2 == 1


def check(
    test: SmokeTest,
    status: str,
    log: str | None,
    duration: float | None,
    *,
    msg: str | None = None,
) -> list[Failure]:
    """Every failed expectation of ``test`` for a task that ended with ``status``.

    ``msg`` is the task's own message (for errors, the server's summary), quoted in the status
    failure. ``log`` is None when the server had no log; output and log expectations then fail
    with one failure saying so.
    """
    failures: list[Failure] = []
    if status != test.status:
        text = f"expected status '{test.status}', got '{status}'"
        # The msg is often the tail of stderr, a whole traceback: its last line says what went
        # wrong, and the full text is in the log tail printed below the failure.
        last = next(
            (line.strip() for line in reversed((msg or "").splitlines()) if line.strip()), ""
        )
        if last:
            text += f" (task msg: {last})"
        failures.append(Failure("status", text, expected=test.status, received=status))
    if test.max_duration is not None and duration is not None and duration > test.max_duration:
        failures.append(
            Failure(
                "duration",
                f"took {duration:.2f}s, over max_duration {test.max_duration:g}s",
                expected=f"<= {test.max_duration:g}s",
                received=f"{duration:.2f}s",
            )
        )
    if not test.output and not test.log:
        return failures
    if log is None:
        failures.append(
            Failure(
                "log",
                "the task's log is not available, so its output and log were not checked",
                hint="the server returned no log for the task; read it later with its task id",
            )
        )
        return failures
    if test.output:
        failures.extend(check_output(test.output, log, test.separator))
    if test.log:
        failures.extend(check_log(test.log, log))
    return failures


def check_output(output: Mapping[str, Any], log: str, separator: str) -> list[Failure]:
    """Failures of the ``output`` matchers against the chosen separator block(s) of ``log``."""
    blocks = extract_blocks(log, separator)
    unterminated = has_unterminated_block(log, separator)
    if not blocks:
        text = f"no {separator} block in the log"
        if unterminated:
            text += ": it has an unterminated separator block (the separator appears only once)"
        hint = (
            f"the output is the text between two separators: print {separator}, "
            f"then the JSON result, then {separator} again"
        )
        return [Failure("output", text, hint=hint)]
    choice = output.get("block", DEFAULT_BLOCK)
    if choice == "first":
        chosen = [(0, blocks[0])]
    elif choice == "last":
        chosen = [(len(blocks) - 1, blocks[-1])]
    elif choice == "all":
        chosen = list(enumerate(blocks))
    else:
        raise ValueError(f"output.block must be one of {', '.join(BLOCK_CHOICES)}, not {choice!r}")
    failures: list[Failure] = []
    for name in OUTPUT_MATCHERS:
        if name not in output:
            continue
        for index, block in chosen:
            where = _where(choice, index, len(blocks))
            failures.extend(_MATCHERS[name](where, output[name], block))
    if unterminated:
        failures = [replace(f, message=f"{f.message} ({UNTERMINATED_NOTE})") for f in failures]
    return failures


def check_log(expect: Mapping[str, Any], log: str) -> list[Failure]:
    """Failures of the ``log`` matchers (each a string or a list of strings) on the whole log."""
    failures: list[Failure] = []
    for text in _strings(expect.get("contains")):
        if text not in log:
            failures.append(Failure("log", f"log does not contain {text!r}", expected=text))
    for text in _strings(expect.get("not_contains")):
        if text in log:
            number, line = _first_line_with(log, text)
            failures.append(
                Failure(
                    "log",
                    f"log contains {text!r} (line {number}: {line!r})",
                    expected=f"no {text!r}",
                    received=line,
                )
            )
    for pattern in _strings(expect.get("matches")):
        failures.extend(_search("log", pattern, log))
    return failures


# -- output matchers: (where, expected, block text) -> failures ---------------------------------


def _equals(where: str, expected: Any, block: str) -> list[Failure]:
    value, is_json, _ = _parse(block)
    # A string expectation also matches the raw text, so `equals: "42"` passes on output 42.
    if _json_equal(expected, value) or (isinstance(expected, str) and block == expected):
        return []
    shown_expected = expected if isinstance(expected, str) and not is_json else _show(expected)
    shown_received = _show(value) if is_json else block
    return [
        Failure(
            "output",
            f"{where} does not equal the expected value",
            expected=shown_expected,
            received=shown_received,
            diff=unified_diff(shown_expected, shown_received),
        )
    ]


def _subset(where: str, expected: Any, block: str) -> list[Failure]:
    value, is_json, error = _parse(block)
    if not is_json and isinstance(expected, (Mapping, list)):
        return [
            Failure(
                "output",
                f"{where} is not JSON ({error}), so it cannot contain the expected subset",
                expected=_show(expected),
                received=block,
            )
        ]
    mismatches = subset_mismatches(expected, value)
    if not mismatches:
        return []
    shown_expected = _show(expected)
    # Diff against the received value cut down to the expected shape: extra keys are noise.
    projected = _show(_project(value, expected))
    return [
        Failure(
            "output",
            f"{where} does not contain the expected subset: " + "; ".join(mismatches),
            expected=shown_expected,
            received=_show(value) if is_json else block,
            diff=unified_diff(shown_expected, projected),
        )
    ]


def _schema(where: str, schema: Any, block: str) -> list[Failure]:
    value, is_json, error = _parse(block)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [Failure("output", f"the output schema is invalid: {exc.message}")]
    validator = Draft202012Validator(schema, registry=local_registry(schema))
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: e.json_path)
    except Unresolvable as exc:  # validate reports these; a schema may still get here
        return [Failure("output", f"the output schema has a $ref that cannot be resolved: {exc}")]
    if not errors:
        return []
    listed = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
    head = f"{where} does not match the schema" if is_json else f"{where} is not JSON ({error})"
    if not is_json:
        head += " and, as text, does not match the schema"
    return [
        Failure(
            "output",
            f"{head}: {listed}",
            expected=_show(schema),
            received=_show(value) if is_json else block,
        )
    ]


def _contains(where: str, expected: Any, block: str) -> list[Failure]:
    return [
        Failure("output", f"{where} does not contain {text!r}", expected=text, received=block)
        for text in _strings(expected)
        if text not in block
    ]


def _matches(where: str, expected: Any, block: str) -> list[Failure]:
    return [f for pattern in _strings(expected) for f in _search(where, pattern, block)]


_MATCHERS = {
    "equals": _equals,
    "subset": _subset,
    "schema": _schema,
    "contains": _contains,
    "matches": _matches,
}


# -- helpers ---------------------------------------------------------------------------------------


def subset_mismatches(expected: Any, received: Any, path: str = "$") -> list[str]:
    """Where ``received`` fails to contain ``expected``: objects partially, arrays by position.

    Each expected key must be present and match recursively; each expected array index must
    match the received item at that index (extra received items are fine); scalars are equal
    as JSON values (``true`` is not ``1``).
    """
    if isinstance(expected, Mapping):
        if not isinstance(received, Mapping):
            return [f"{path}: expected an object, got {_kind(received)}"]
        found: list[str] = []
        for key, item in expected.items():
            child = _child(path, key)
            if key in received:
                found.extend(subset_mismatches(item, received[key], child))
            else:
                found.append(f"{child}: missing")
        return found
    if isinstance(expected, list):
        if not isinstance(received, list):
            return [f"{path}: expected an array, got {_kind(received)}"]
        found = []
        for index, item in enumerate(expected):
            child = f"{path}[{index}]"
            if index < len(received):
                found.extend(subset_mismatches(item, received[index], child))
            else:
                found.append(f"{child}: missing (the array has {len(received)} items)")
        return found
    if _json_equal(expected, received):
        return []
    return [f"{path}: expected {_inline(expected)}, got {_inline(received)}"]


def unified_diff(expected: str, received: str) -> str:
    """A ``--- expected`` / ``+++ received`` unified diff of two display texts."""
    lines = difflib.unified_diff(
        expected.splitlines(),
        received.splitlines(),
        fromfile="expected",
        tofile="received",
        lineterm="",
    )
    return "\n".join(lines)


def _json_equal(a: Any, b: Any) -> bool:
    # Python's == says True == 1 and treats tuples apart from lists; JSON equality does neither.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is None and b is None


def _parse(block: str) -> tuple[Any, bool, str | None]:
    """(value, is_json, parse error): the JSON value when the block parses, else the raw text."""
    try:
        return json.loads(block), True, None
    except ValueError as exc:
        return block, False, str(exc)


def _project(received: Any, expected: Any) -> Any:
    if isinstance(expected, Mapping) and isinstance(received, Mapping):
        return {k: _project(received[k], v) for k, v in expected.items() if k in received}
    if isinstance(expected, list) and isinstance(received, list):
        return [_project(r, e) for r, e in zip(received, expected, strict=False)]
    return received


def _show(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _inline(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _MAX_INLINE else text[: _MAX_INLINE - 3] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({_inline(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({_inline(value)})"
    if isinstance(value, str):
        return f"a string ({_inline(value)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "null"


def _child(path: str, key: str) -> str:
    # Same spelling as jsonschema's json_path, so subset and schema messages read alike.
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{key!r}]"


def _where(choice: str, index: int, count: int) -> str:
    if count == 1:
        return "output"
    if choice == "all":
        return f"output block {index + 1} of {count}"
    return f"output ({choice} of {count} blocks)"


def _strings(value: Any) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _search(where: str, pattern: str, text: str) -> list[Failure]:
    # Patterns are quoted as written: repr() would double every backslash.
    kind: FailureKind = "log" if where == "log" else "output"
    try:
        found = re.search(pattern, text)
    except re.error as exc:
        return [Failure(kind, f"invalid pattern '{pattern}': {exc}", expected=pattern)]
    if found:
        return []
    # The whole log is shown as its tail elsewhere; a block is short enough to show here.
    received = None if where == "log" else text
    return [Failure(kind, f"{where} does not match the pattern '{pattern}'", pattern, received)]


def _first_line_with(log: str, text: str) -> tuple[int, str]:
    for number, line in enumerate(log.splitlines(), start=1):
        if text in line:
            return number, line.strip()
    # The text spans lines: report where it starts.
    start = log.index(text)
    return log.count("\n", 0, start) + 1, text
