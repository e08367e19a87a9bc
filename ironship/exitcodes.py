"""The exit codes of every ironship command, defined once (README "Exit codes")."""

from __future__ import annotations

OK = 0
ERROR = 1  # bad input, an API error, or nothing could be done
CHANGES = 2  # plan --detailed-exitcode: there are changes
SMOKE_FAILED = 3  # deployed (or tested), but a smoke test failed
CONFLICT = 4  # apply: another deploy changed a worker after the plan; that worker was left alone
PARTIAL = 5  # apply: some workers failed, others were uploaded
INTERRUPTED = 130  # Ctrl-C
