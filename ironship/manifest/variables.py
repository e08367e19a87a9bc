"""``${env:…}``, ``${git:…}`` and ``${secret:…}`` in ironship.yml, resolved before validation.

Resolving first means a bad resolved value is reported like a bad written one, at the line
and column of the reference that produced it (docs/architecture.md, Conventions 2 and 3).
The rules (README "Environments, variables and secrets"):

- ``${env:NAME}`` is the process environment's NAME; ``${env:NAME:-default}`` gives
  ``default`` when NAME is unset or empty. Unset without a default is an error.
- ``${git:sha}`` is the HEAD commit of the manifest's repository; ``${git:ref}`` the tag
  pointing at HEAD, else its branch, else (a detached HEAD) the commit.
- ``${secret:NAME}`` is NAME in the secrets file, else the environment variable NAME when it
  is not empty (CI systems pass a secret they do not have as an empty string). It may
  appear only where a value is sent as it is and never shown: env values, anywhere in
  ``config``, and an environment's ``target.token``. A string holding one becomes a Secret.
- A value that is exactly one ``${env:…}`` or ``${git:…}`` becomes a number or a boolean
  when the schema wants one there and the text reads as one (``max_concurrency: ${env:N}``).
- ``$${`` writes a literal ``${``; ``${name}`` without a kind is left as written.
- An environment's ``target.token`` must be one ``${env:NAME}`` or ``${secret:NAME}``: a
  token written in the file would be committed with it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironship.manifest.schema import types_at
from ironship.manifest.secretsfile import SECRET_NAME, SecretsFile
from ironship.manifest.yamlpos import Document, JsonPath, Problem, plain_value
from ironship.secrets import Secret

KINDS = ("env", "secret", "git")
GIT_VALUES = ("sha", "ref")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^{}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\$\{(?:env:[A-Za-z_][A-Za-z0-9_]*|secret:[A-Za-z0-9_][A-Za-z0-9_.-]*)\}")
_SECRET_PLACES = "env values, config and an environment's target.token"
TOKEN_HINT = (
    "write 'token: ${secret:NAME}' (read from the secrets file or the environment) or "
    "'token: ${env:NAME}', and keep the token itself out of the repository"
)


@dataclass
class Context:
    """What references resolve against. ``secrets=None`` with ``need_secrets=False`` (plain
    ``validate``) accepts every ``${secret:…}`` without reading it."""

    directory: Path  # the manifest's folder, for git
    environ: Mapping[str, str]
    secrets: SecretsFile | None = None
    need_secrets: bool = True
    _git: dict[str, str | None] = field(default_factory=dict)

    def git(self, what: str) -> str | None:
        if what not in self._git:
            self._git[what] = _git_value(self.directory, what)
        return self._git[what]


@dataclass(frozen=True)
class Resolved:
    """Data with every reference replaced, the problems found, and the references each
    value used (by its path, for ``ironship config`` and for messages)."""

    data: Any
    problems: tuple[Problem, ...]
    references: Mapping[JsonPath, tuple[str, ...]]


def resolve(
    doc: Document, context: Context, *, skip: Callable[[JsonPath], bool] = lambda _: False
) -> Resolved:
    """Resolve every string of ``doc.data`` except under the paths ``skip`` names."""
    walker = _Walker(doc, context, skip)
    data = walker.value(doc.data, ())
    return Resolved(data, tuple(walker.problems), walker.references)


def is_token(path: JsonPath) -> bool:
    return len(path) == 4 and path[0] == "environments" and path[2:] == ("target", "token")


def secret_allowed(path: JsonPath) -> bool:
    """Whether ``${secret:…}`` may appear at ``path``: env values, config, a target token."""
    if is_token(path):
        return True
    if "config" in path:
        at = path.index("config")
        return _setting_owner(path[:at])
    return len(path) >= 2 and path[-2] == "env" and _setting_owner(path[:-2])


def _setting_owner(path: JsonPath) -> bool:
    """``defaults``, ``workers.W`` and the same under ``environments.E``."""
    if path[:1] == ("environments",) and len(path) >= 2:
        path = path[2:]
    return path == ("defaults",) or (len(path) == 2 and path[0] == "workers")


class _Walker:
    def __init__(self, doc: Document, context: Context, skip: Callable[[JsonPath], bool]):
        self.doc = doc
        self.context = context
        self.skip = skip
        self.problems: list[Problem] = []
        self.references: dict[JsonPath, tuple[str, ...]] = {}

    def value(self, value: Any, path: JsonPath) -> Any:
        if path and self.skip(path):
            return value
        if is_token(path):
            return self.token(value, path)
        if isinstance(value, dict):
            return {k: self.value(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self.string(value, path)
        return value

    def token(self, value: Any, path: JsonPath) -> Any:
        if not (isinstance(value, str) and _TOKEN.fullmatch(value)):
            # Never echo it: it is a credential. The placeholder keeps the schema quiet.
            message = "the token is written in the manifest, which is committed with the code"
            self.add(path, message, TOKEN_HINT)
            return Secret("")
        resolved = self.string(value, path)
        return resolved if isinstance(resolved, Secret) else Secret(str(resolved))

    def add(self, path: JsonPath, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(self.doc.at(path), path, message, hint))

    def string(self, text: str, path: JsonPath) -> Any:
        parts: list[str] = []
        refs: list[str] = []
        secret = False
        pos = 0
        for match in _REFERENCE.finditer(text):
            parts.append(text[pos : match.start()])
            pos = match.end()
            kind, colon, rest = (match.group(1) or "").partition(":")
            if match.group(0) == "$${" or not colon:
                parts.append("${" if match.group(0) == "$${" else match.group(0))
                continue
            refs.append(match.group(0))
            found = self.lookup(kind, rest, match.group(0), path)
            secret = secret or isinstance(found, Secret)
            parts.append(found.reveal() if isinstance(found, Secret) else found or "")
        parts.append(text[pos:])
        if refs:
            self.references[path] = tuple(refs)
        joined = "".join(parts)
        if secret:
            return Secret(joined)
        if len(refs) == 1 and refs[0] == text and not refs[0].startswith("${secret:"):
            return _typed(joined, types_at(path))
        return joined

    def lookup(self, kind: str, rest: str, ref: str, path: JsonPath) -> str | Secret | None:
        if kind == "env":
            return self.env(rest, ref, path)
        if kind == "git":
            return self.git(rest, ref, path)
        if kind == "secret":
            return self.secret(rest, ref, path)
        close = difflib.get_close_matches(kind, KINDS, n=1, cutoff=0.5)
        hint = f"did you mean '${{{close[0]}:{rest}}}'?" if close else "use env, secret or git"
        self.add(path, f"unknown variable {ref}", f"{hint} ($${{ writes a literal '${{')")
        return None

    def env(self, rest: str, ref: str, path: JsonPath) -> str | None:
        name, has_default, default = rest.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            self.add(path, f"{ref}: '{name}' is not an environment variable name", _ENV_HINT)
            return None
        value = self.context.environ.get(name)
        if value is not None and (value or not has_default):
            return value
        if has_default:
            return default
        hint = f"set {name} in the environment, or give a default: ${{env:{name}:-VALUE}}"
        self.add(path, f"{ref}: environment variable {name} is not set", hint)
        return None

    def git(self, rest: str, ref: str, path: JsonPath) -> str | None:
        if rest not in GIT_VALUES:
            close = difflib.get_close_matches(rest, GIT_VALUES, n=1, cutoff=0.5)
            hint = (
                f"did you mean '${{git:{close[0]}}}'?" if close else "use ${git:sha} or ${git:ref}"
            )
            self.add(path, f"unknown variable {ref}", hint)
            return None
        value = self.context.git(rest)
        if value is None:
            message = f"{ref}: the manifest's folder is not in a git repository with a commit"
            self.add(path, message, "commit the project first, or use ${env:NAME}")
        return value

    def secret(self, name: str, ref: str, path: JsonPath) -> Secret | None:
        if not secret_allowed(path):
            hint = f"secrets may be used only in {_SECRET_PLACES}: nothing else is kept secret"
            self.add(path, f"{ref} can't be used here", hint)
            return None
        if not SECRET_NAME.fullmatch(name):
            hint = "a secret name uses letters, digits, '_', '.' and '-'"
            self.add(path, f"{ref}: invalid secret name", hint)
            return None
        source = self.context.secrets
        if source is not None and name in source.values:
            return source.values[name]
        if self.context.environ.get(name):  # CI systems give a missing secret as ""
            return Secret(self.context.environ[name])
        if not self.context.need_secrets:
            return Secret("")
        self.add(path, f"{ref}: {_missing(name, source)}", _secret_hint(name, source))
        return None


_ENV_HINT = "a name uses letters, digits and '_', not starting with a digit"


def _missing(name: str, source: SecretsFile | None) -> str:
    env = f"the environment variable {name} is unset or empty"
    if source is None:
        return f"no secrets file is in use and {env}"
    if not source.exists:
        return f"the secrets file {source.path} does not exist and {env}"
    return f"{name} is not in the secrets file {source.path} and {env}"


def _secret_hint(name: str, source: SecretsFile | None) -> str:
    where = str(source.path) if source is not None else "a secrets file (--secrets-file FILE)"
    return f"add '{name}: …' to {where} and never commit it, or set {name} in the environment"


def _typed(text: str, wanted: frozenset[str]) -> Any:
    """``text`` as the number or boolean the schema wants, when it reads as one."""
    if "string" in wanted or not wanted & {"integer", "number", "boolean"}:
        return text
    value = plain_value(text.strip())
    if isinstance(value, bool):
        return value if "boolean" in wanted else text
    if isinstance(value, int | float):
        return value if wanted & {"integer", "number"} else text
    return text


def _git_value(directory: Path, what: str) -> str | None:
    sha = _git(directory, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if sha is None or what == "sha":
        return sha
    tag = _git(directory, "describe", "--tags", "--exact-match", "HEAD")
    return tag or _git(directory, "symbolic-ref", "--short", "--quiet", "HEAD") or sha


def _git(directory: Path, *args: str) -> str | None:
    import subprocess  # only for ${git:…}: reading a manifest otherwise starts no process

    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
