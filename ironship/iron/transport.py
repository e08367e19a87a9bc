"""Below the API calls: retry policy, the auth header, and failures turned into messages.

Used only by ``ironship.iron.client``; with it, the only modules that import requests
(docs/architecture.md, Conventions 6). Messages never carry the token: ``redact`` removes it
and any ``oauth=`` query value.
"""

from __future__ import annotations

import re

import requests
import urllib3
from urllib3.util.retry import Retry

from ironship.errors import ApiError
from ironship.secrets import Secret

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST is not idempotent here: a repeated POST tasks runs the worker twice, a repeated POST codes
# adds a revision. 429 and 503 mean "not processed, come back later", so they are retried for POST
# too; 502/504 come from a gateway that may already have forwarded the request, so they are not.
# Connection errors follow the same line: connect errors (nothing was sent) are retried for every
# method, read errors (the request may have arrived) only for the idempotent methods.
POST_RETRY_STATUSES = frozenset({429, 503})
RETRY_AFTER_CAP = 120.0  # seconds; a server asking for more should not hang a deploy for hours
_OAUTH_IN_URL = re.compile(r"(?i)(oauth=)[^&#\s\"']*")


class ApiRetry(Retry):
    """urllib3 ``Retry`` that also retries POST, but only on the statuses that mean "not processed".

    POST stays out of ``allowed_methods``, so urllib3 never retries it after a read error.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            return status_code in POST_RETRY_STATUSES and status_code in (
                self.status_forcelist or ()
            )
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), RETRY_AFTER_CAP)


class OAuth(requests.auth.AuthBase):
    """Adds ``Authorization: OAuth TOKEN`` (docs/ironworker-api.md §1 (Transport)).

    An auth object also keeps ~/.netrc out.
    """

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        # The one place the token's text leaves its Secret (docs/architecture.md, Conventions 6).
        r.headers["Authorization"] = f"OAuth {self._token.reveal()}"
        return r

    def __repr__(self) -> str:
        return "<OAuth token redacted>"


def transport_error(
    host: str,
    timeout: tuple[float, float],
    secret: Secret,
    method: str,
    path: str,
    exc: BaseException,
) -> ApiError:
    """What went wrong below HTTP (no answer, a timeout, a broken connection), in one line."""
    chain = _chain(exc)
    reason = redact(_reason(chain[-1]), secret)
    kinds = tuple(type(e) for e in chain)

    def seen(*types: type[BaseException]) -> bool:
        return any(issubclass(k, types) for k in kinds)

    # requests reports a read timeout that exhausted urllib3's retries as a ConnectionError,
    # so the exception chain, not the outer type, says what happened.
    if seen(urllib3.exceptions.ReadTimeoutError, requests.ReadTimeout):
        msg = f"{host} sent no response within {timeout[1]:g}s"
    elif seen(requests.ConnectTimeout) or (
        seen(urllib3.exceptions.ConnectTimeoutError)
        and not seen(urllib3.exceptions.NewConnectionError)
    ):
        msg = f"timed out connecting to {host} after {timeout[0]:g}s"
    elif seen(requests.exceptions.ChunkedEncodingError):
        msg = f"connection to {host} broke mid-response: {reason}"
    else:
        msg = f"cannot talk to {host}: {reason}"
    err = ApiError(method, path, None, msg)
    err.hint = "check that the server is up and the host setting (IRON_HOST, iron.json) is right"
    return err


def redact(text: str, secret: Secret) -> str:
    """Remove the token and any ``oauth=`` query value from text that may reach the user."""
    token = secret.reveal()
    if len(token) >= 6:  # a shorter (test) token would mangle ordinary words
        text = text.replace(token, "***")
    return _OAUTH_IN_URL.sub(r"\1***", text)


def body_text(resp: requests.Response, limit: int = 200) -> str:
    raw = resp.content.decode("utf-8", "replace")
    if "html" in resp.headers.get("Content-Type", "").lower() or raw.lstrip().startswith("<"):
        title = re.search(r"(?is)<title>(.*?)</title>", raw)
        raw = title.group(1) if title else re.sub(r"<[^>]*>", " ", raw)
    return " ".join(raw.split())[:limit].rstrip()


def error_message(resp: requests.Response) -> str:
    """The server's JSON ``msg``, else a short text: the reason phrase or the body's start."""
    try:
        value = resp.json()
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("msg"), str) and value["msg"]:
        return str(value["msg"])
    if value is None and (text := body_text(resp)):
        return text
    return resp.reason or f"HTTP {resp.status_code}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first: requests wraps urllib3 wraps the socket error."""
    chain = [exc]
    while True:
        current = chain[-1]
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            args = [a for a in current.args if isinstance(a, BaseException)]
            inner = args[-1] if args else current.__cause__ or current.__context__
        if inner is None or any(inner is e for e in chain):
            return chain
        chain.append(inner)


def _reason(exc: BaseException) -> str:
    """A short text for the innermost cause, e.g. "Connection refused"."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
