"""ironship: declarative deploys, plans and smoke tests for IronWorker."""

from __future__ import annotations

__version__ = "0.1.0"
# The version of every JSON document ironship prints (--json, reports); bumped on a breaking
# change to any of them.
FORMAT_VERSION = "1"
