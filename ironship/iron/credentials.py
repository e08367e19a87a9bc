"""Where the IronWorker token and project come from (docs/ironworker-api.md §7 (Client
configuration); README "Credentials").

Lowest priority first: ``~/.iron.json``, ``IRON_*``, ``IRON_WORKER_*``, ``./iron.json`` (the
cwd, as the Python client does), ``--config FILE``, the ``target:`` of the environment picked
with ``--env`` (README "Environments, variables and secrets"), then flags. Inside a file the
top-level keys come first and the ``iron_worker`` object overrides them. ``cloud`` (a Python
client setting) sets scheme, host, port and prefix at once. Nothing here reads ``os.environ``,
the real cwd or home: the caller passes them in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ironship.errors import IronshipError
from ironship.secrets import Secret

DEFAULT_HOST = "worker-aws-us-east-1.iron.io"
DEFAULT_PORTS = {"https": 443, "http": 80}
# The keys the Python client copies from a file's top level (docs/ironworker-api.md §7);
# ``protocol`` is its name for ``scheme``.
_FILE_KEYS = (
    *("token", "project_id", "host", "protocol", "scheme", "port", "api_version"),
    *("path_prefix", "cloud"),
)
_FILE_HINT = 'iron.json holds one JSON object, e.g. {"token": "...", "project_id": "..."}'
_MISSING_HINT = {
    "token": 'set IRON_TOKEN, add "token" to iron.json, or pass --token',
    "project_id": 'set IRON_PROJECT_ID, add "project_id" to iron.json, or pass --project-id',
}
_TOKEN_HINT = (
    "copy the token again from the IronWorker dashboard (HUD): it is one line of letters and digits"
)
_FLAGS = {
    "token": "--token",
    "project_id": "--project-id",
    "host": "--host",
    "scheme": "--scheme",
    "port": "--port",
}


@dataclass(frozen=True)
class Credentials:
    """A resolved project: where to send requests and with which token (never in the repr)."""

    token: Secret = field(repr=False)
    project_id: str
    host: str
    scheme: str = "https"
    port: int | None = None
    api_version: str = "2"
    path_prefix: str = ""
    sources: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]{path_prefix}``; the port only when it is not the default."""
        port = "" if self.port in (None, DEFAULT_PORTS.get(self.scheme)) else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path_prefix}"

    def describe(self) -> str:
        """One line for the user: project, host and where they came from; never the token."""
        origin = f" (from {', '.join(self.sources)})" if self.sources else ""
        return f"project {self.project_id}, host {self.base_url}{origin}"


@dataclass(frozen=True)
class TargetLayer:
    """Connection settings from one named source above the files and variables: an
    environment's ``target:`` in ironship.yml. ``values`` uses the file keys (``token``,
    ``project_id``, ``host``, ``port``, ``scheme``); the token may be a Secret."""

    label: str  # e.g. "environment staging (ironship.yml)"
    values: Mapping[str, Any] = field(default_factory=dict)


# A layer maps canonical keys (token, project_id, host, scheme, port, api_version, path_prefix)
# to (value, label); later layers win key by key.
_Layer = dict[str, tuple[Any, str]]


def resolve(
    *,
    config_file: Path | None,
    token: str | Secret | None,
    project_id: str | None,
    host: str | None,
    scheme: str | None,
    port: int | None,
    env: Mapping[str, str],
    cwd: Path,
    home: Path,
    environment: TargetLayer | None = None,
) -> Credentials | None:
    """Merge every source; None when no token and no project id are set anywhere.

    ``environment`` (an environment's ``target:``) comes after ``--config`` and before flags.
    """
    layers = [
        _file_layer(home / ".iron.json", "~/.iron.json", required=False),
        _env_layer(env, "IRON_"),
        _env_layer(env, "IRON_WORKER_"),
        _file_layer(cwd / "iron.json", "./iron.json", required=False),
    ]
    if config_file is not None:
        layers.append(_file_layer(config_file, str(config_file), required=True))
    if environment is not None:
        layers.append(_layer(environment.values, lambda k: environment.label))
    flags: dict[str, Any] = {"token": token, "project_id": project_id, "host": host}
    flags.update(scheme=scheme, port=port)
    layers.append(_layer({k: v for k, v in flags.items() if v is not None}, lambda k: _FLAGS[k]))

    merged: _Layer = {}
    for layer in layers:
        merged.update(layer)
    if "token" not in merged and "project_id" not in merged:
        if environment is not None and environment.values:
            raise IronshipError(
                f"{environment.label} sets a target but no token or project id is found",
                hint="add token: ${secret:NAME} and project_id: to the target, or set "
                "IRON_TOKEN and IRON_PROJECT_ID",
            )
        return None
    for needed, other in (("token", "project_id"), ("project_id", "token")):
        if needed not in merged:
            what = needed.replace("_", " ")
            raise IronshipError(
                f"IronWorker {what} is missing: a {other.replace('_', ' ')} was found in "
                f"{merged[other][1]} but no {what} anywhere",
                hint=_MISSING_HINT[needed],
            )
    version, version_from = merged.get("api_version", ("2", ""))
    if version != "2":
        raise IronshipError(
            f"{version_from}: api_version {version!r} is not supported",
            hint="ironship speaks IronWorker API v2: remove api_version or set it to 2",
        )
    order = [label for layer in layers for _value, label in layer.values()]
    used = {label for _value, label in merged.values()}
    sources = tuple(dict.fromkeys(label for label in order if label in used))
    return Credentials(
        token=merged["token"][0],
        project_id=merged["project_id"][0],
        host=merged.get("host", (DEFAULT_HOST, ""))[0],
        scheme=merged.get("scheme", ("https", ""))[0],
        port=merged.get("port", (None, ""))[0],
        path_prefix=merged.get("path_prefix", ("", ""))[0],
        sources=sources,
    )


def _file_layer(path: Path, shown: str, *, required: bool) -> _Layer:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise IronshipError(f"config file {shown} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise IronshipError(f"cannot read {shown}: {reason}", hint=_FILE_HINT) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        # ``from None``: the decode error holds the whole document, token included.
        raise IronshipError(
            f"{shown}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint=f"fix or remove {shown}; {_FILE_HINT}",
        ) from None
    if not isinstance(raw, dict):
        raise IronshipError(f"{shown}: expected a JSON object", hint=_FILE_HINT)
    product = raw.get("iron_worker", {})
    if not isinstance(product, dict):
        raise IronshipError(f"{shown}: iron_worker must be an object", hint=_FILE_HINT)
    layer = _layer({k: raw[k] for k in _FILE_KEYS if k in raw}, lambda k: shown)
    layer.update(_layer(product, lambda k: shown))
    return layer


def _env_layer(env: Mapping[str, str], prefix: str) -> _Layer:
    names = {key: prefix + key.upper() for key in _FILE_KEYS}
    return _layer({k: env[n] for k, n in names.items() if n in env}, names.__getitem__)


def _layer(raw: Mapping[str, Any], label_of: Callable[[str], str]) -> _Layer:
    """Canonical, checked values from one source; ``cloud`` wins inside its source, as in the
    Python client."""
    out: _Layer = {}
    for key in _FILE_KEYS:
        value = raw.get(key)
        if key == "cloud" or value is None or value == "":  # "": templates and Go write them
            continue
        label = label_of(key)
        canonical, check = _CHECKS.get(key, (key, _string))
        out[canonical] = (check(key, value, label), label)
    cloud = raw.get("cloud")
    if cloud is not None and cloud != "":
        out.update(_cloud(cloud, label_of("cloud")))
    return out


def _api_version(key: str, value: Any, label: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise IronshipError(f'{label}: api_version must be a string such as "2"')
    return str(value)


def _path_prefix(key: str, value: Any, label: str) -> str:
    return _prefix(_string(key, value, label))


def _host_value(key: str, value: Any, label: str) -> str:
    return _host(_string(key, value, label), label)


def _token(key: str, value: Any, label: str) -> Secret:
    # Every token becomes a Secret here, where it is read (a file, IRON_*, --token or an
    # environment's target), and stays one up to the Authorization header.
    if isinstance(value, Secret):
        text = value.reveal().strip()
        if not text:
            raise IronshipError(f"{label}: the token is empty", hint="check the variable it reads")
    else:
        text = _string(key, value, label)
    return checked_token(text, label)


def checked_token(text: str, label: str) -> Secret:
    """``text`` as a Secret, refused when an HTTP header cannot carry it; the message names
    the place and the kind of character, never the token."""
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            what = "a line break" if char in "\r\n" else f"a control character (U+{code:04X})"
            raise IronshipError(
                f"{label}: the token holds {what} at position {index + 1}",
                hint=_TOKEN_HINT,
            )
        if code > 0xFF:
            raise IronshipError(
                f"{label}: the token holds a character outside Latin-1 (U+{code:04X}) at "
                f"position {index + 1}; an HTTP header cannot carry it",
                hint=_TOKEN_HINT,
            )
    return Secret(text)


def _string(key: str, value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise IronshipError(f"{label}: {key} must be a string, not {type(value).__name__}")
    return value.strip()


def _scheme(key: str, value: Any, label: str) -> str:
    scheme = str(value).strip().lower()
    if scheme not in DEFAULT_PORTS:
        raise IronshipError(f"{label}: scheme must be http or https, not {value!r}")
    return scheme


def _port(key: str, value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise IronshipError(f"{label}: port must be a number, not {value!r}")
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise IronshipError(f"{label}: port must be a number from 1 to 65535, not {value!r}")
    return int(text)


def _prefix(value: str) -> str:
    stripped = value.strip("/")
    return f"/{stripped}" if stripped else ""


def _host(value: str, label: str) -> str:
    if "/" in value or (":" in value and not value.startswith("[")):
        raise IronshipError(
            f"{label}: host must be a bare host name, not {value!r}",
            hint="give the port and scheme separately (--port/--scheme, IRON_PORT/IRON_SCHEME, "
            '"port"/"scheme" in iron.json), or a whole URL with '
            "IRON_WORKER_CLOUD=http://127.0.0.1:8080",
        )
    return value


def _cloud(value: Any, label: str) -> _Layer:
    """``http://127.0.0.1:8080/pfx`` → scheme, host, port (None = the scheme's) and prefix."""
    text = _string("cloud", value, label)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise IronshipError(
            f"{label}: cloud must be a URL such as http://127.0.0.1:8080, not {text!r}"
        )
    return {
        "scheme": (parts.scheme, label),
        "host": (parts.hostname, label),
        "port": (port, label),
        "path_prefix": (_prefix(parts.path), label),
    }


# key in a source -> (canonical key, check). ``protocol`` comes before ``scheme`` in _FILE_KEYS,
# so ``scheme`` wins when a source has both.
_CHECKS: dict[str, tuple[str, Callable[[str, Any, str], Any]]] = {
    "protocol": ("scheme", _scheme),
    "scheme": ("scheme", _scheme),
    "port": ("port", _port),
    "api_version": ("api_version", _api_version),
    "path_prefix": ("path_prefix", _path_prefix),
    "host": ("host", _host_value),
    "token": ("token", _token),
}
