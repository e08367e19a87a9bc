"""Sensitive values: the masked ``Secret`` type, keyed digests of secrets, and [FILTERED].

A value read with ``${secret:NAME}`` in ironship.yml (and every target token) is a ``Secret``:
``str()``, ``repr()``, f-strings and ``format`` all give ``(sensitive)``, it is no ``str``
(so it cannot be concatenated, JSON-encoded or pickled by accident), and ``reveal()`` is the
one way to its text. Only the places that send it call ``reveal()``: the upload's ``data``
(``deploy/settings.upload_data``) and the client's token (``iron/target.py``).

Comparisons of a secret with what the server holds go through ``Secret.matches`` (constant
time), and digests through HMAC-SHA256 keyed by ``digest_key(token)``: the key comes from
the target's token, which the server never returns in any listing, so a digest printed in
a plan or stamped on an upload cannot be checked against guesses by someone without it.

``filter_sensitive`` is what ironship's displays of payloads and configs apply, like the
IronWorker dashboard: a value under a key that names a credential shows as ``[FILTERED]``.
It imports nothing of ironship: every layer may use it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, NoReturn

MASK = "(sensitive)"
FILTERED = "[FILTERED]"
# Key fragments whose values displays hide (case-insensitive, '_', '-', '.' and spaces ignored).
SENSITIVE_KEYS = (
    "token",
    "secret",
    "password",
    "pass",
    "api_key",
    "connectionstring",
    "license",
    "security",
)
_KEY_INFO = b"ironship secret digest v1"


class Secret:
    """A sensitive string: masked everywhere it could be shown; ``reveal()`` gives its text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a string")
        self._value = value

    def reveal(self) -> str:
        """The real text. Call it only where the value is sent to the server."""
        return self._value

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` is this secret's value (a constant-time comparison)."""
        if not isinstance(text, str):
            return False
        return hmac.compare_digest(self._value.encode("utf-8"), text.encode("utf-8"))

    def digest(self, key: bytes) -> str:
        """HMAC-SHA256 of the value under ``key`` (see ``digest_key``), as hex."""
        return hmac.new(key, self._value.encode("utf-8"), hashlib.sha256).hexdigest()

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self  # immutable

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is never pickled")


def digest_key(token: str | Secret) -> bytes:
    """The HMAC key for secret digests, derived from the target's ``token``.

    The token travels only in the ``Authorization`` header (docs/ironworker-api.md §1
    (Transport)); no code, task or listing holds it, so the key stays with whoever may deploy
    there. Rotating the token changes the digests of workers with secrets; nothing is
    re-uploaded for that alone.
    """
    text = token.reveal() if isinstance(token, Secret) else token
    return hmac.new(text.encode("utf-8"), _KEY_INFO, hashlib.sha256).digest()


def has_secrets(value: Any) -> bool:
    """Whether ``value`` holds a Secret anywhere inside it."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, Mapping):
        return any(has_secrets(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_secrets(v) for v in value)
    return False


def masked(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every Secret replaced by ``(sensitive)``."""
    return _map_secrets(value, lambda _: MASK)


def revealed(value: Any) -> Any:
    """A copy of ``value`` with every Secret replaced by its text: only for sending."""
    return _map_secrets(value, Secret.reveal)


def _map_secrets(value: Any, convert: Any) -> Any:
    if isinstance(value, Secret):
        return convert(value)
    if isinstance(value, Mapping):
        return {k: _map_secrets(v, convert) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_secrets(v, convert) for v in value]
    return value


def _normal(key: str) -> str:
    return "".join(c for c in key.lower() if c not in "_-. ")


_NORMAL_KEYS = tuple(_normal(k) for k in SENSITIVE_KEYS)


def is_sensitive_key(key: object) -> bool:
    """Whether a value under ``key`` is hidden from displays (``apiKey`` and ``API-KEY`` too)."""
    return isinstance(key, str) and any(word in _normal(key) for word in _NORMAL_KEYS)


def filter_sensitive(value: Any) -> Any:
    """A copy of ``value`` for display: values under sensitive keys (at any depth) become
    ``[FILTERED]``, and every Secret ``(sensitive)`` (wherever it is: it says what it is).
    What is sent is never filtered."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, Mapping):
        return {
            k: FILTERED
            if is_sensitive_key(k) and not isinstance(v, Secret)
            else filter_sensitive(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [filter_sensitive(v) for v in value]
    return value
