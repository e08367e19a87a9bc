"""``--payload`` arguments: inline JSON or ``@FILE``, and the size limit of what is queued."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError
from ironship.manifest.defaults import MAX_JSON_BYTES


def read_payload_arg(text: str) -> Any:
    """``--payload '{"max": 10}'`` or ``--payload @file.json``, parsed as JSON."""
    source = "--payload"
    hint = "quote the JSON for your shell, e.g. --payload '{\"max\": 10}'"
    if text.startswith("@"):
        if not text[1:]:
            raise IronshipError(
                "--payload @: no file name after @",
                hint="give a JSON file path after @, e.g. --payload @payload.json",
            )
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise IronshipError(
                f"--payload @{path}: cannot read the file: {exc.strerror}",
                hint="give a JSON file path after @, e.g. --payload @payload.json",
            ) from None
        source = f"--payload @{path}"
        hint = f"fix the JSON in {path}"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise IronshipError(
            f"{source}: not valid JSON: {exc}",
            hint=hint,
        ) from None


def payload_text(body: Any, *, given: bool) -> str:
    """The JSON string queued as the task's payload; more than IronWorker's 64 KB is an error.

    The limit is on what is sent: the worker's default payload with ``--payload`` merged in
    (docs/ironworker-api.md §1 (Transport), "Limits"). ``given`` says whether --payload took
    part, to name it in the message.
    """
    text = json.dumps(body if body is not None else {})
    size = len(text.encode("utf-8"))
    if size > MAX_JSON_BYTES:
        what = "the payload (default merged with --payload)" if given else "the default payload"
        raise IronshipError(
            f"--payload: {what} is {size} bytes as JSON; IronWorker accepts at most "
            f"{MAX_JSON_BYTES} bytes (64 KB)",
            hint="pass large data by reference (a URL or a storage key the worker fetches)",
        )
    return text
