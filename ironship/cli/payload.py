"""``--payload`` arguments: inline JSON or ``@FILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError


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
