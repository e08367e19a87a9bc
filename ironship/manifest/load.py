"""ironship.yml: read (keeping positions), resolve, validate (every problem at once), parse.

Read, then validate, then parse (docs/architecture.md, Conventions 2): ``read_yaml`` keeps node
positions; resolve.py picks the environment (``--env``), resolves ``${…}`` references and lays
the environment over the file; validation collects *every* problem with its ``FILE:LINE:COL:
path: message (hint: …)``; and ``parse`` turns validated plain data into frozen Manifest /
Worker / SmokeTest values. The rules for combining defaults live in defaults.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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
from ironship.manifest.dependencies import python_value, requirements_value
from ironship.manifest.environments import environment_names
from ironship.manifest.models import (
    DEFAULT_SEPARATOR,
    Environment,
    EnvironmentTarget,
    Location,
    Manifest,
    SmokeTest,
    Worker,
)
from ironship.manifest.resolve import (
    Options,
    Resolution,
    check_every_environment,
    every_environment,
    resolve_file,
)
from ironship.manifest.scheduling import schedule_values
from ironship.manifest.yamlpos import Document, format_path, read_yaml

HINT = "'ironship schema' prints the manifest's JSON Schema"


def load_manifest(
    path: Path,
    env: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    git: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Manifest:
    """Read, resolve (environment ``env``, ``${…}`` references), validate and parse ``path``.

    ``git`` (``sha``, ``ref``) and ``home`` are for a manifest checked out from a commit
    (``--ref``): the commit's values for ``${git:…}``, and the working tree's folder for
    git and a relative ``secrets_file:``.

    ``secrets_file`` (``--secrets-file``) replaces the environment's ``secrets_file:``;
    ``environ`` is what ``${env:…}`` and ``${secret:…}`` read (default: ``os.environ``).
    Raises IronshipError when the file can't be read or ``env`` is not a choice the file
    offers, and ManifestError listing every problem.
    """
    resolution = resolve_file(path, Options(env, secrets_file, environ, git=git, home=home))
    if resolution.problems:
        # The schema explains keys and types, not YAML syntax or files on disk.
        raise ManifestError(resolution.problems, HINT if resolution.from_schema else None)
    return manifest_from(resolution, path)


def manifest_from(resolution: Resolution, path: Path) -> Manifest:
    """The Manifest of a Resolution without problems."""
    manifest = parse(resolution.data, path, positions=resolution.positions)
    names = environment_names(resolution.doc.data)
    environment = None
    if resolution.environment is not None:
        environment = _environment(resolution, resolution.environment)
    return replace(manifest, environment=environment, environments=names)


def validate_manifest(
    path: Path,
    env: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Every problem of the manifest at ``path`` (none when valid), for ``ironship validate``.

    With ``env``, the manifest as that environment resolves it (its secrets read); without,
    the file and each environment laid over it, secrets accepted unread. Raises
    IronshipError only when the file can't be read or ``env`` is wrong.
    """
    options = Options(env, secrets_file, environ)
    if env is None:
        return check_every_environment(path, options)
    return resolve_file(path, options).problems


def checked(
    path: Path,
    env: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[str], list[Manifest]]:
    """``validate_manifest``'s problems, and when there are none ``each_environment``'s
    manifests, from one reading of the file (``ironship validate``)."""
    options = Options(env, secrets_file, environ)
    if env is not None:
        resolution = resolve_file(path, options)
        if resolution.problems:
            return resolution.problems, []
        return [], [manifest_from(resolution, path)]
    problems, resolutions = every_environment(path, options)
    if problems:
        return problems, []
    return [], [manifest_from(r, path) for r in resolutions]


def each_environment(
    path: Path,
    env: str | None = None,
    *,
    secrets_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """The manifest as ``validate`` checks it: for ``env``, or for each environment declared
    (secrets accepted unread), or the one manifest there is. Raises like ``load_manifest``."""
    if env is not None:
        return [load_manifest(path, env, secrets_file=secrets_file, environ=environ)]
    names = environment_names(read_yaml(path).data)
    out = []
    for name in names or (None,):
        options = Options(name, secrets_file, environ, need_secrets=False)
        resolution = resolve_file(path, options)
        if resolution.problems:
            raise ManifestError(resolution.problems, HINT if resolution.from_schema else None)
        out.append(manifest_from(resolution, path))
    return out


def _environment(resolution: Resolution, name: str) -> Environment:
    # The target's values as resolved (the token a Secret), not as written.
    section = resolution.section if isinstance(resolution.section, Mapping) else {}
    target = section.get("target")
    target = target if isinstance(target, Mapping) else {}
    secrets = resolution.secrets
    return Environment(
        name=name,
        target=EnvironmentTarget(
            project_id=target.get("project_id"),
            host=target.get("host"),
            port=_int(target.get("port")),
            scheme=target.get("scheme"),
            token=target.get("token"),
        ),
        secrets_file=secrets.path if secrets is not None and secrets.exists else None,
        location=resolution.doc.at(("environments", name), key=True),
    )


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
        # README "Workers with dependencies" (manifest/dependencies.py)
        requirements=requirements_value(settings.get("requirements")),
        python=python_value(settings),
        build_from_source=bool(settings.get("build_from_source", False)),
        pip_args=tuple(settings.get("pip_args") or ()),
        stack=settings.get("stack"),
        schedules=schedule_values(
            raw.get("schedules") or (),
            payload,
            lambda i: _where(positions, ("workers", name, "schedules", *i)),
        ),
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
