"""The task memory cap: what IronWorker gives a worker (about 512 MB of RAM,
docs/ironworker-api.md §1 (Transport), limits), enforced on each of the task's processes.

The cap is ``RLIMIT_DATA``, set in the child between fork and exec. Not ``RLIMIT_AS``: Node
reserves gigabytes of address space it never touches and would not even start under an
address-space limit of 512 MB, while ``RLIMIT_DATA`` (Linux 4.7 and later) counts the private
writable memory a process really asks for: heap, anonymous mappings, thread stacks.

A process that reaches the cap is not killed: its next allocation fails, and the runtime
reports it in its own words (Python's ``MemoryError``, Ruby's ``NoMemoryError``, V8's
"JavaScript heap out of memory", PHP's "Allowed memory size … exhausted", for which the PHP
runtime's own ``memory_limit`` is set to the cap). ``OomWatch`` looks for those words in
stderr so a task that failed that way reports ``ERROR: WORKER RAM LIMIT EXCEEDED (N MB)`` like
the hosted service does (docs/ironworker-api.md §6 (Worker runtime contract), the outcome).
"""

from __future__ import annotations

import re
import resource
from collections.abc import Callable

DEFAULT_TASK_MEMORY_MB = 512

_OOM = re.compile(
    rb"\bMemoryError\b"  # Python
    rb"|NoMemoryError|failed to allocate memory"  # Ruby
    rb"|JavaScript heap out of memory|Fatal process out of memory"  # Node (V8)
    rb"|Allowed memory size of \d+ bytes exhausted|Out of memory \(allocated"  # PHP
    rb"|Cannot allocate memory|std::bad_alloc|out of memory"  # C library, C++, most others
)
# A pattern may straddle two reads of stderr: keep this much of the previous one.
_OVERLAP = 64


def ram_limit_msg(memory_mb: int) -> str:
    """The first line of a task's msg when it ran out of its memory."""
    return f"ERROR: WORKER RAM LIMIT EXCEEDED ({memory_mb} MB)"


def limit_child(memory_mb: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` capping the child at ``memory_mb`` (None: no cap for 0 or less)."""
    if memory_mb <= 0:
        return None
    limit = memory_mb * 1024 * 1024
    setrlimit = resource.setrlimit  # bound now: the child between fork and exec imports nothing
    which = resource.RLIMIT_DATA

    def cap() -> None:
        setrlimit(which, (limit, limit))

    return cap


class OomWatch:
    """Fed with stderr as it is read; remembers whether a runtime said it ran out of memory."""

    def __init__(self) -> None:
        self.seen = False
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        if self.seen:
            return
        window = self._carry + chunk
        if _OOM.search(window):
            self.seen = True
        self._carry = window[-_OVERLAP:]
