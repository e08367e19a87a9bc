"""Check manifest data against schemas/ironship.schema.json and say what is wrong in plain words.

jsonschema's own messages (``'3' is not of type 'integer'``) name neither the place nor the fix;
each error is translated into a Problem located at the failing key or value
(docs/architecture.md, Conventions 3). A value gets one problem, not one per rule it breaks.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ironship.manifest.defaults import WORKER_ONLY_KEYS
from ironship.manifest.schema import load_schema
from ironship.manifest.verdicts import key_of, verdicts_for
from ironship.manifest.yamlpos import Document, JsonPath, Problem, plain_value

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}
_REQUIRED_HINTS = {
    "version": "start the manifest with 'version: 1'",
    "workers": "declare the workers under 'workers:', keyed by name",
    "entry": "name the file IronWorker runs, relative to the worker's root (e.g. 'entry: fib.py')",
    "name": "give every smoke test a name",
}
# (key, expected type) -> what to write instead of a string that isn't a number.
_NUMBER_HINTS = {
    ("max_duration", "number"): "give a number of seconds, e.g. 30",
    ("timeout", "number"): "give a number of seconds, e.g. 60",
    ("timeout", "integer"): "give a whole number of seconds from 1 to 3600, e.g. 300",
    ("retries_delay", "integer"): "give a whole number of seconds, e.g. 30",
    ("retries", "integer"): "give a whole number from 0 to 10, e.g. 3",
    ("max_concurrency", "integer"): "give a whole number of at least 1, e.g. 5, or -1 for no limit",
    ("priority", "integer"): "give 0, 1 or 2",
}


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # only when a verdict is not known (verdicts.py)

    return Draft202012Validator(load_schema())


def schema_problems(doc: Document, folder: Path | None = None) -> list[Problem]:
    """Every schema violation in ``doc.data``, translated and located.

    ``folder`` (the manifest's) is where valid verdicts are remembered (verdicts.py).
    """
    key = key_of(doc.data) if folder is not None else None
    verdicts = verdicts_for(folder) if folder is not None else None
    if key is not None and verdicts is not None and verdicts.valid(key):
        return []
    errors = list(_validator().iter_errors(doc.data))
    if not errors and key is not None and verdicts is not None:
        verdicts.remember(key)
    # A value of the wrong type breaks its other rules too (`priority: high` is neither an
    # integer nor one of 0, 1, 2): report only the type, with the allowed values as the hint.
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    allowed = {
        tuple(e.absolute_path): _seq(e.validator_value) for e in errors if e.validator == "enum"
    }
    problems: list[Problem] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if path in mistyped and error.validator != "type":
            continue
        for problem in _translate(error, doc):
            if path in allowed and error.validator == "type" and problem.hint is None:
                listed = ", ".join(str(option) for option in allowed[path])
                problem = replace(problem, hint=f"use one of: {listed}")
            # `required` yields one error per missing key, each naming them all: keep one of each.
            if problem not in problems:
                problems.append(problem)
    return problems


def describe(value: Any) -> str:
    """A value as a YAML user would name it: ``a string ('3')``, ``nothing (null)``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _translate(error: ValidationError, doc: Document) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind = str(error.validator)
    value = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if "propertyNames" in error.absolute_schema_path:
        yield _bad_name(error, path, doc)
    elif kind == "additionalProperties":
        yield from _unknown_keys(value, schema, path, doc)
    elif kind == "required":
        for key in _seq(error.validator_value):
            if isinstance(value, Mapping) and key not in value:
                message = f"missing required key '{key}'"
                yield Problem(doc.at(path, key=True), path, message, _REQUIRED_HINTS.get(key))
    elif kind == "type":
        yield _wrong_type(error, path, doc)
    elif kind == "const" and path == ("version",):
        message = f"unsupported manifest version {_short(value)}"
        yield Problem(doc.at(path), path, message, "this ironship reads 'version: 1'")
    elif kind == "enum":
        yield _not_in_enum(value, _seq(error.validator_value), path, doc)
    else:
        yield Problem(doc.at(path), path, *_simple_message(kind, error, schema))


def _simple_message(
    kind: str, error: ValidationError, schema: Mapping[str, Any]
) -> tuple[str, str | None]:
    limit = error.validator_value
    value = error.instance
    match kind:
        case "minimum":
            return f"{value} is less than the minimum {limit}", schema.get("description")
        case "maximum":
            return f"{value} is more than the maximum {limit}", schema.get("description")
        case "exclusiveMinimum":
            return f"{value} must be more than {limit}", schema.get("description")
        case "minLength":
            return "must not be empty", schema.get("description")
        case "minItems":
            return "must not be an empty list", schema.get("description")
        case "anyOf" | "oneOf" | "not" | "const":
            return f"{_short(value)} is not allowed here", schema.get("description")
        case _:
            return error.message, schema.get("description")


def _bad_name(error: ValidationError, path: JsonPath, doc: Document) -> Problem:
    name = str(error.instance)
    where = doc.at((*path, name), key=True)
    if path == ("workers",):
        message = f"invalid worker name '{name}'"
        hint = "use letters, digits, '_', '.' and '-': the name is the code package's name"
    elif path == ("environments",):
        message = f"invalid environment name '{name}'"
        hint = "use letters, digits, '_', '.' and '-'"
    elif path[-1:] == ("env",) and error.validator == "not":
        message = f"environment variable '{name}' is reserved"
        hint = "ironship stamps every upload with IRONSHIP_* variables; pick another name"
    elif path[-1:] == ("env",):
        message = f"invalid environment variable name '{name}'"
        hint = "use letters, digits and '_', not starting with a digit"
    else:
        message, hint = f"invalid key '{name}'", None
    return Problem(where, (*path, name), message, hint)


def _unknown_keys(
    value: Any, schema: Mapping[str, Any], path: JsonPath, doc: Document
) -> Iterator[Problem]:
    allowed = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    for key in value if isinstance(value, Mapping) else ():
        if key in allowed or any(p.search(key) for p in patterns):
            continue
        where = doc.at((*path, key), key=True)
        if _is_defaults(path) and key in WORKER_ONLY_KEYS:
            hint = f"set '{key}' on each worker"
            yield Problem(where, (*path, key), f"'{key}' can't have a default", hint)
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        yield Problem(where, (*path, key), f"unknown key '{key}'", hint)


def _is_defaults(path: JsonPath) -> bool:
    """``defaults``, or an environment's ``defaults``."""
    return path == ("defaults",) or (len(path) == 3 and path[::2] == ("environments", "defaults"))


def _seq(value: object) -> Sequence[Any]:
    """A schema keyword's value that the schema writes as a list (``required``, ``enum``)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _wrong_type(error: ValidationError, path: JsonPath, doc: Document) -> Problem:
    expected = error.validator_value
    names = [expected] if isinstance(expected, str) else list(_seq(expected))
    wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    value = error.instance
    message = f"expected {wanted}, got {describe(value)}"
    hint: str | None = None
    raw = doc.raw.get(path)
    if "string" in names and isinstance(value, bool | int | float):
        shown = raw if raw is not None else json.dumps(value)
        hint = f'quote it to keep it a string: "{shown}"'
    elif isinstance(value, str) and {"integer", "number"} & set(names):
        hint = _number_hint(value, names, path, doc)
    elif len(path) == 2 and path[0] == "workers" and "object" in names:
        hint = "a worker is a mapping of settings, e.g. 'entry: fib.py'"
    elif value is None and "object" in names:
        hint = "add the keys, indented under this one, or remove it"
    return Problem(doc.at(path), path, message, hint)


def _number_hint(text: str, names: Sequence[str], path: JsonPath, doc: Document) -> str:
    """ "remove the quotes" only when that gives the number; else what a number looks like."""
    wanted = "number" if "number" in names else "integer"
    if path in doc.quoted and _is_a(plain_value(text), wanted):
        return "remove the quotes"
    key = path[-1] if path else ""
    fallback = "give a number, e.g. 30" if wanted == "number" else "give a whole number, e.g. 3"
    return _NUMBER_HINTS.get((str(key), wanted), fallback)


def _is_a(value: Any, wanted: str) -> bool:
    """Whether ``value`` passes as a JSON Schema ``wanted`` ("number" or "integer")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    return wanted == "number" or isinstance(value, int) or value.is_integer()


def _not_in_enum(value: Any, options: Sequence[Any], path: JsonPath, doc: Document) -> Problem:
    listed = ", ".join(str(option) for option in options)
    message = f"{_short(value)} is not one of: {listed}"
    hint: str | None = None
    if isinstance(value, str):
        choices = [str(option) for option in options]
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else None
    return Problem(doc.at(path), path, message, hint)
