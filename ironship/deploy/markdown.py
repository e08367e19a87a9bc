"""A plan as markdown for a pull-request comment: the summary first, the details folded.

The first line is the summary ``plan`` ends with; then where the plan was made for (target,
environment, commit); then the lines ``plan`` prints, in a ``diff`` block inside
``<details>`` so a long plan does not fill the conversation. GitHub refuses a comment body
over 65,536 characters ("Body is too long (maximum is 65536 characters)", as reported in
https://github.com/danger/danger/issues/424), so the whole text stays under
``COMMENT_LIMIT``: past it, detail lines are left out and a note says how many, and how to
see them all. Pure: it returns a string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ironship.deploy.models import Plan
from ironship.deploy.planread import SavedPlan
from ironship.deploy.render import plan_lines, summary_line

COMMENT_LIMIT = 65_000
SHORT_SHA = 7


def _fence(lines: Sequence[str]) -> str:
    """A code fence longer than any run of backticks in the lines (file names may hold some)."""
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _note(left: int, chars: int, source: str) -> str:
    return (
        f"\n_{left} more line(s) ({chars:,} characters) left out: the plan is too long for one "
        f"comment. Run `{source}` to see all of it._\n"
    )


def _fit(lines: Sequence[str], budget: int) -> int:
    """How many of ``lines`` (each with its newline) fit in ``budget`` characters."""
    used = 0
    for i, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return i
    return len(lines)


def plan_markdown(
    plan: Plan,
    *,
    context: Sequence[str] = (),
    source: str = "ironship plan",
    limit: int = COMMENT_LIMIT,
) -> str:
    """The comment: summary line, ``context`` lines, then the details in ``<details>``.

    ``source`` is the command that shows the whole plan, named when lines are left out.
    """
    lines = [text for text, _ in plan_lines(plan)][:-1]  # the summary leads instead
    changing = sum(1 for w in plan.workers if w.changes)
    fence = _fence(lines)
    head = f"**{summary_line(plan)}**\n\n"
    head += "".join(f"{line}  \n" for line in context) + ("\n" if context else "")
    head += f"<details><summary>Details: {changing} worker(s) change</summary>\n\n"
    head += f"{fence}diff\n"
    tail = f"{fence}\n\n</details>\n"
    total = sum(len(line) + 1 for line in lines)
    budget = limit - len(head) - len(tail)
    if total <= budget:
        return head + "".join(f"{line}\n" for line in lines) + tail
    budget -= len(_note(len(lines), total, source))  # the longest the note can be
    kept = _fit(lines, budget)
    shown = "".join(f"{line}\n" for line in lines[:kept])
    left_chars = total - len(shown)
    return head + shown + tail + _note(len(lines) - kept, left_chars, source)


def saved_context(saved: SavedPlan) -> list[str]:
    """Where a saved plan was made for, one line each: target, environment, commit."""
    out = [f"Target: {saved.target.describe()}"]
    if saved.environment:
        out.append(f"Environment: {saved.environment}")
    if saved.git_sha:
        dirty = " (uncommitted changes)" if saved.git_dirty else ""
        out.append(f"Commit: `{saved.git_sha[:SHORT_SHA]}`{dirty}")
    out.append(f"Planned: {saved.created_at}")
    return out


def saved_plan_markdown(saved: SavedPlan, *, limit: int = COMMENT_LIMIT) -> str:
    """The pull-request comment of a plan file (``show --format markdown``)."""
    return plan_markdown(
        saved.display,
        context=saved_context(saved),
        source=f"ironship show {saved.path.name}",
        limit=limit,
    )
