"""ironship.yml: read (keeping positions), validate (every problem at once), parse (pure).

Read, then validate, then parse (docs/architecture.md, Conventions 2): ``read_yaml`` keeps node
positions, validation collects *every* problem with its ``FILE:LINE:COL: path: message
(hint: …)``, and ``parse`` turns validated plain data into frozen Manifest / Worker / SmokeTest
values. The rules for combining defaults live in defaults.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ironship.errors import ManifestError
from ironship.manifest.defaults import (
    DEFAULT_BLOCK,
    DEFAULT_SMOKE_TIMEOUT,
    RUNTIMES_HINT,
    infer_runtime,
    smoke_payload,
    worker_settings,
)
from ironship.manifest.models import DEFAULT_SEPARATOR, Location, Manifest, SmokeTest, Worker
from ironship.manifest.rules import semantic_problems
from ironship.manifest.schema_errors import schema_problems
from ironship.manifest.yamlpos import Document, Problem, format_path, read_yaml

_HINT = "'ironship schema' prints the manifest's JSON Schema"


def load_manifest(path: Path) -> Manifest:
    """Read, validate and parse ``path``.

    Raises IronshipError when the file can't be read and ManifestError listing every problem.
    """
    doc = read_yaml(path)
    problems, from_schema = _problems(doc, path)
    if problems:
        # The schema explains keys and types, not YAML syntax or files on disk.
        raise ManifestError(problems, _HINT if from_schema else None)
    return parse(doc.data, path, positions=doc)


def validate_manifest(path: Path) -> list[str]:
    """Every problem of the manifest at ``path`` (none when valid), for ``ironship validate``.

    Raises IronshipError only when the file can't be read at all.
    """
    return _problems(read_yaml(path), path)[0]


def _problems(doc: Document, path: Path) -> tuple[list[str], bool]:
    """Every problem, in file order, and whether any of them came from the schema."""
    problems = list(doc.problems)
    from_schema = False
    if doc.data is None and not problems:
        problems.append(
            Problem(
                None, (), f"{path}: the manifest is empty", "start with 'version: 1' and 'workers:'"
            )
        )
    if doc.data is not None:
        # An earlier occurrence of a duplicated key (doc.variants) is checked like the last one:
        # a second `fib:` block must not hide the first one's problems. What the occurrences
        # share is reported by each, identically, and kept once.
        for version in (doc, *doc.variants):
            found = schema_problems(version)
            from_schema = from_schema or bool(found)
            problems += found
            problems += semantic_problems(version, path.resolve().parent)
    lines = [str(p) for p in sorted(problems, key=Problem.sort_key)]
    return list(dict.fromkeys(lines)), from_schema


def parse(data: Mapping[str, Any], path: Path, *, positions: Document | None = None) -> Manifest:
    """Build the Manifest from validated ``data`` read from ``path`` (pure but for resolving roots).

    ``positions`` (from read_yaml) fills the Location fields; without it they stay None.
    """
    manifest_path = path.resolve()
    defaults: Mapping[str, Any] = data.get("defaults") or {}
    workers = [
        _worker(name, raw, defaults, manifest_path.parent, positions)
        for name, raw in (data.get("workers") or {}).items()
    ]
    return Manifest(
        path=manifest_path,
        version=int(data["version"]),
        workers=tuple(sorted(workers, key=lambda w: w.name)),
    )


def _worker(
    name: str,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    directory: Path,
    positions: Document | None,
) -> Worker:
    settings = worker_settings(defaults, raw)
    entry = PurePosixPath(settings["entry"]).as_posix()  # "./fib.py" -> "fib.py"
    runtime = settings.get("runtime") or infer_runtime(entry)
    if runtime is None:
        where = format_path(("workers", name, "entry"))
        raise ManifestError(
            [f"{where}: can't tell the runtime of '{entry}'"], f"add 'runtime:' ({RUNTIMES_HINT})"
        )
    separator = settings.get("separator", DEFAULT_SEPARATOR)
    payload = settings.get("payload")
    tests = tuple(
        _smoke_test(test, payload, separator, _where(positions, ("workers", name, "smoke", i)))
        for i, test in enumerate(raw.get("smoke") or ())
    )
    config = settings.get("config")
    return Worker(
        name=name,
        root=(directory / settings.get("root", ".")).resolve(),
        entry=entry,
        runtime=runtime,
        include=tuple(settings.get("include") or ()),
        exclude=tuple(settings.get("exclude") or ()),
        payload=payload,
        config=dict(config) if config is not None else None,
        env=dict(settings.get("env") or {}),
        max_concurrency=_int(settings.get("max_concurrency")),
        retries=_int(settings.get("retries")),
        retries_delay=_int(settings.get("retries_delay")),
        priority=_int(settings.get("priority")),
        timeout=_int(settings.get("timeout")),
        separator=separator,
        smoke=tests,
        location=_where(positions, ("workers", name), key=True),
    )


def _smoke_test(
    test: Mapping[str, Any], worker_payload: Any, separator: str, location: Location | None
) -> SmokeTest:
    output = test.get("output")
    log = test.get("log")
    max_duration = test.get("max_duration")
    return SmokeTest(
        name=test["name"],
        payload=smoke_payload(worker_payload, test),
        timeout=float(test.get("timeout", DEFAULT_SMOKE_TIMEOUT)),
        status=test.get("status", "complete"),
        separator=test.get("separator", separator),
        # The default block is written out so the smoke runner never has to guess it.
        output={**output, "block": output.get("block", DEFAULT_BLOCK)} if output else None,
        # Each log expectation becomes a list, however it was written.
        log={k: [v] if isinstance(v, str) else list(v) for k, v in log.items()} if log else None,
        max_duration=float(max_duration) if max_duration is not None else None,
        location=location,
    )


def _int(value: Any) -> int | None:
    # The schema accepts 3.0 as an integer; the API wants a JSON integer.
    return int(value) if value is not None else None


def _where(
    positions: Document | None, path: tuple[str | int, ...], *, key: bool = False
) -> Location | None:
    return positions.at(path, key=key) if positions is not None else None
