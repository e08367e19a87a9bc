"""From the file to validated data: pick the environment, resolve references, overlay, check.

The order (docs/architecture.md, Conventions 2): read with positions → pick the environment
(``--env``) → resolve ``${…}`` in the file's own sections and that environment's → validate
that (the schema sees resolved values, located where the references are written) → lay the
environment over the file → validate the result again, each problem moved back to the line
its value came from. Problems are plain strings, sorted by place, each once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ironship.manifest.environments import (
    Overlaid,
    effective_document,
    environment_names,
    environment_problems,
    overlay,
    select,
)
from ironship.manifest.rules import semantic_problems
from ironship.manifest.schema_errors import schema_problems
from ironship.manifest.secretsfile import SecretsFile, read_secrets_file
from ironship.manifest.variables import Context, Resolved, resolve
from ironship.manifest.yamlpos import Document, JsonPath, Problem, read_yaml
from ironship.secrets import masked


@dataclass(frozen=True)
class Options:
    """What a command asks of the manifest: an environment, a secrets file, the process
    environment ``${env:…}`` reads (None: ``os.environ``)."""

    env: str | None = None
    secrets_file: Path | None = None
    environ: Mapping[str, str] | None = None
    need_secrets: bool = True  # False: accept every ${secret:…} unread (plain validate)
    # Building from a commit (--ref): ${git:sha}/${git:ref} are that commit's, and the
    # working tree's manifest folder (``home``) is where git runs and secrets files are found.
    git: Mapping[str, str] | None = None
    home: Path | None = None


@dataclass(frozen=True)
class Resolution:
    """One environment (or none) resolved: what parse reads, and how each value got there."""

    doc: Document  # the file as read
    problems: list[str]
    from_schema: bool  # some problem came from the schema (the hint then names it)
    environment: str | None = None
    data: Any = None  # resolved and overlaid, Secrets in place
    positions: Document | None = None  # positions of ``data``
    overlaid: Overlaid | None = None
    references: Mapping[JsonPath, tuple[str, ...]] = field(default_factory=dict)
    secrets: SecretsFile | None = None
    section: Any = None  # the environment's own section, resolved (its target, secrets_file)

    def source(self, path: JsonPath) -> JsonPath:
        """Where the value at ``path`` of ``data`` is written in the file."""
        return self.overlaid.source(path) if self.overlaid is not None else path


def resolve_file(path: Path, options: Options) -> Resolution:
    """Read ``path`` and resolve it for ``options.env``; raises IronshipError for a wrong
    ``--env`` or an unreadable file, and lists every other problem in the Resolution."""
    doc = read_yaml(path)
    early = _early_problems(doc, path)
    if early:
        return Resolution(doc, early, False)
    env = select(environment_names(doc.data), options.env, path)
    context = _context(doc, path, env, options, need_secrets=options.need_secrets)
    return _resolve_one(doc, path, env, context)


def check_every_environment(path: Path, options: Options) -> list[str]:
    """Plain ``validate``: the file, and each environment laid over it, with every
    ``${secret:…}`` accepted unread (``validate --env NAME`` reads them)."""
    return every_environment(path, options)[0]


def every_environment(path: Path, options: Options) -> tuple[list[str], list[Resolution]]:
    """``check_every_environment``'s problems, and the resolution of each environment (or of
    the file alone) for building its Manifest when there are none: the file is read once."""
    doc = read_yaml(path)
    early = _early_problems(doc, path)
    if early:
        return early, []
    names = environment_names(doc.data)
    problems: list[str] = []
    resolutions = []
    for env in names or (None,):
        context = _context(doc, path, env, options, need_secrets=False)
        resolutions.append(_resolve_one(doc, path, env, context))
        problems += resolutions[-1].problems
    return list(dict.fromkeys(problems)), resolutions


def _early_problems(doc: Document, path: Path) -> list[str]:
    if doc.data is None and not doc.problems:
        return [str(Problem(None, (), f"{path}: the manifest is empty", _EMPTY_HINT))]
    if doc.data is None:
        return [str(p) for p in doc.problems]
    return []


_EMPTY_HINT = "start with 'version: 1' and 'workers:'"


def _context(
    doc: Document, path: Path, env: str | None, options: Options, *, need_secrets: bool
) -> Context:
    environ = os.environ if options.environ is None else options.environ
    directory = options.home or path.resolve().parent
    known: dict[str, str | None] = dict(options.git or {})
    context = Context(directory, environ, need_secrets=need_secrets, _git=known)
    if options.secrets_file is not None:
        context.secrets = read_secrets_file(
            options.secrets_file, required=True, named_by="--secrets-file"
        )
    elif env is not None:
        context.secrets = _environment_secrets(doc, env, Context(directory, environ, _git=known))
    return context


def _environment_secrets(doc: Document, env: str, context: Context) -> SecretsFile | None:
    """The environment's ``secrets_file:`` (relative to the manifest), when it names one."""
    where: JsonPath = ("environments", env, "secrets_file")
    section = doc.data["environments"][env]
    raw = section.get("secrets_file") if isinstance(section, Mapping) else None
    if not isinstance(raw, str) or not raw:
        return None  # absent, or the schema's to report
    # Only its own value is resolved here (a bad reference there is reported with the rest).
    value = resolve(replace(doc, data=raw), context).data
    if not isinstance(value, str) or not value:
        return None
    shown = Path(value)
    full = shown if shown.is_absolute() else context.directory / shown
    found = read_secrets_file(full, required=False, named_by=_dotted(where))
    return replace(found, path=shown)  # messages name it as the manifest does


def _dotted(path: JsonPath) -> str:
    return ".".join(str(p) for p in path)


@dataclass(frozen=True)
class _Checked:
    resolved: Resolved
    problems: list[Problem]
    from_schema: bool
    overlaid: Overlaid | None = None
    effective: Document | None = None  # positions of the overlaid data


def _resolve_one(doc: Document, path: Path, env: str | None, context: Context) -> Resolution:
    directory = path.resolve().parent
    # An earlier occurrence of a duplicated key (doc.variants) is checked like the last one.
    checks = [_check(version, directory, env, context) for version in (doc, *doc.variants)]
    problems = list(doc.problems) + [p for c in checks for p in c.problems]
    lines = [str(p) for p in sorted(problems, key=Problem.sort_key)]
    main = checks[0]
    overlaid = main.overlaid
    data = overlaid.data if overlaid is not None else main.resolved.data
    return Resolution(
        doc,
        list(dict.fromkeys(lines)),
        any(c.from_schema for c in checks),
        env,
        data,
        main.effective or replace(doc, data=data),
        overlaid,
        main.resolved.references,
        context.secrets,
        _section(main.resolved.data, env),
    )


def _section(data: Any, env: str | None) -> Any:
    sections = data.get("environments") if isinstance(data, Mapping) else None
    return sections.get(env) if isinstance(sections, Mapping) and env is not None else None


def _check(doc: Document, directory: Path, env: str | None, context: Context) -> _Checked:
    data = _only_environment(doc.data, env)
    resolved = resolve(replace(doc, data=data), context, skip=_extension)
    shown = replace(doc, data=masked(resolved.data), problems=(), variants=())
    found = schema_problems(shown, directory)
    from_schema = bool(found)
    problems = [*resolved.problems, *found, *semantic_problems(shown, directory)]
    problems += environment_problems(shown)
    if env is None or not isinstance(resolved.data, dict):
        return _Checked(resolved, _annotate(problems, resolved), from_schema)
    overlaid = overlay(resolved.data, env)
    view = effective_document(doc, overlaid, masked(overlaid.data))
    found = schema_problems(view, directory)
    from_schema = from_schema or bool(found)
    more = found + semantic_problems(view, directory)
    problems += [replace(p, path=overlaid.source(p.path)) for p in more]
    effective = effective_document(doc, overlaid, overlaid.data)
    return _Checked(resolved, _annotate(problems, resolved), from_schema, overlaid, effective)


def _annotate(problems: list[Problem], resolved: Resolved) -> list[Problem]:
    """Problems of values that came from ``${…}`` say so; a reference that could not be
    resolved is its value's one problem (the empty text left in its place is no news)."""
    failed = {p.path for p in resolved.problems}
    return [
        _annotated(p, resolved.references)
        for p in problems
        if p.path not in failed or p in resolved.problems
    ]


def _only_environment(data: Any, env: str | None) -> Any:
    """``data`` keeping only the environment being checked (the others may need variables
    or secrets this command does not have)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("environments"), Mapping):
        return data
    sections = data["environments"]
    return {**data, "environments": {env: sections[env]} if env in sections else {}}


def _extension(path: JsonPath) -> bool:
    """``x-`` keys hold anchors to reuse; what they hold is resolved where it is used."""
    return len(path) == 1 and isinstance(path[0], str) and path[0].startswith("x-")


def _annotated(problem: Problem, references: Mapping[JsonPath, tuple[str, ...]]) -> Problem:
    """A problem with a value that came from ``${…}`` says so: ``… from ${env:N}``."""
    refs = references.get(problem.path)
    if not refs or any(ref in problem.message for ref in refs):
        return problem
    return replace(problem, message=f"{problem.message} from {', '.join(refs)}")
