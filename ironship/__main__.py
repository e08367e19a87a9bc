"""``python -m ironship`` runs the CLI."""

from __future__ import annotations

from ironship.cli.app import main

main()
