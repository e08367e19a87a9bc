"""The deploy core's import boundaries and ports (docs/architecture.md, Packages and what
they may import; Conventions 16)."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy.fakes import FakeIron

from ironship.deploy.ports import CodeSource, CodeStore, DeployClient, StackLister
from ironship.iron.client import Client


def modules_after_importing(*names: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``names``."""
    code = f"import sys, {', '.join(names)}; print(__import__('json').dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


def test_diff_imports_nothing_that_does_io() -> None:
    """Importing deploy.diff loads no HTTP, CLI or file-matching library."""
    loaded = modules_after_importing("ironship.deploy.diff")
    roots = {name.partition(".")[0] for name in loaded}
    assert roots.isdisjoint({"requests", "urllib3", "typer", "rich", "pathspec", "click"})
    assert "ironship.deploy.diff" in loaded


def test_packaging_does_not_import_the_deploy_layer() -> None:
    """Selecting and zipping files loads nothing from ironship.deploy."""
    loaded = modules_after_importing(
        "ironship.packaging.fileset", "ironship.packaging.archive", "ironship.packaging.hashcache"
    )
    assert not {name for name in loaded if name.startswith("ironship.deploy")}


def test_the_client_and_the_fake_fill_every_port() -> None:
    """Client and FakeIron satisfy the ports structurally (mypy checks these assignments)."""
    client = Client("http://127.0.0.1:9", "project", "token")
    fake = FakeIron()
    ports: list[tuple[DeployClient, CodeStore, CodeSource, StackLister]] = [
        (client, client, client, client),
        (fake, fake, fake, fake),
    ]
    assert len(ports) == 2
    client.close()
