"""A plan as a pull-request comment (deploy/markdown.py): summary first, details folded, and
never longer than a comment may be."""

from __future__ import annotations

from ironship.deploy.markdown import COMMENT_LIMIT, plan_markdown
from ironship.deploy.models import Plan, WorkerPlan
from ironship.deploy.render import plan_lines, summary_line


def big_plan(files: int) -> Plan:
    """One worker to create and one to update whose reasons name ``files`` files each."""
    names = tuple(f"+ src/module_{i:05d}/handler_with_a_long_name.py" for i in range(files))
    return Plan(
        (
            WorkerPlan("alpha", "create", ("new worker (1 file)",), code_changed=True),
            WorkerPlan("beta", "update", names, code_changed=True),
            WorkerPlan("gamma", "unchanged"),
        )
    )


def test_the_summary_comes_first_and_the_details_are_folded() -> None:
    """Line one is plan's summary; the lines plan prints follow in a diff block in <details>."""
    plan = big_plan(2)
    text = plan_markdown(plan, context=("Target: local project p",))
    lines = text.splitlines()
    assert lines[0] == f"**{summary_line(plan)}**"
    assert lines[2] == "Target: local project p  "
    start = lines.index("<details><summary>Details: 2 worker(s) change</summary>")
    assert lines[start + 2] == "```diff"
    body = lines[start + 3 : lines.index("```", start + 3)]
    assert body == [t for t, _ in plan_lines(plan)][:-1]
    assert lines[-1] == "</details>" and "left out" not in text


def test_a_long_plan_is_cut_under_the_comment_limit_with_a_note() -> None:
    """Past 65,000 characters detail lines are left out, and a note says how many and how to
    see them all; the block and the <details> still close."""
    plan = big_plan(5000)
    full = "\n".join(t for t, _ in plan_lines(plan))
    assert len(full) > COMMENT_LIMIT
    text = plan_markdown(plan, source="ironship show plan.json")
    assert len(text) <= COMMENT_LIMIT
    kept = sum(1 for line in text.splitlines() if line.startswith("    + src/"))
    left = len(plan_lines(plan)) - 1 - kept - 3  # the summary leads; 3 lines are not files
    assert 0 < kept < 5000
    assert f"_{left} more line(s) (" in text
    assert "characters) left out: the plan is too long for one comment. Run `ironship show " in text
    assert text.index("```\n\n</details>") < text.index("more line(s)")
    assert text.splitlines()[0] == f"**{summary_line(plan)}**"


def test_a_small_limit_still_keeps_the_summary_and_closes_the_block() -> None:
    """A limit that fits one detail line gives a well-formed comment: summary, that line, the
    closed block and the note."""
    text = plan_markdown(big_plan(50), limit=300)
    assert len(text) <= 300
    assert text.startswith("**Plan: 1 to create, 1 to update")
    assert "```diff\n+ alpha: create\n```\n\n</details>\n" in text
    assert "_52 more line(s) (2,596 characters) left out" in text


def test_backticks_in_file_names_cannot_close_the_block_early() -> None:
    """A file name holding a backtick fence gets a longer fence around the details."""
    plan = Plan((WorkerPlan("alpha", "update", ("+ odd```name.py",), code_changed=True),))
    text = plan_markdown(plan)
    assert "````diff\n~ alpha: update (code)\n    + odd```name.py\n````\n" in text
