"""The small interfaces (ports) the deploy core needs from an IronWorker API.

They are the seams of docs/architecture.md, Conventions 16: ``ironship.iron.client.Client``
satisfies every one of them structurally, and unit tests pass an in-memory fake instead
(``tests/deploy/fakes.py``). Each function asks for the narrowest port
it uses: the planner reads codes, the executor also writes them, the pipeline adds tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ironship.iron.types import Code
from ironship.smoke.runner import SmokeClient


class CodeSource(Protocol):
    """Reads the server's code packages (docs/ironworker-api.md §2 (Code packages))."""

    def list_codes(self) -> list[Code]: ...

    def get_code(self, code_id: str) -> Code: ...

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path: ...


class CodeSink(Protocol):
    """Changes the server's code packages: every upload adds a revision."""

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str: ...

    def delete_code(self, code_id: str) -> None: ...


class CodeStore(CodeSource, CodeSink, Protocol):
    """Reads and writes code packages: what apply and rollback need."""


class StackLister(Protocol):
    """Lists the runtimes a server can run: ``GET /2/stacks``.

    See docs/ironworker-api.md §5 (Other endpoints).
    """

    def list_stacks(self) -> list[str]: ...


class DeployClient(CodeStore, SmokeClient, StackLister, Protocol):
    """Everything the pipeline does: plan, apply, smoke-test and roll back."""
