"""ironship: declarative deploys, plans and smoke tests for IronWorker."""

from __future__ import annotations

__version__ = "0.1.0"
