"""Renderers for plans and apply results: plain text lines and stable JSON.

Pure: they return strings and dicts; the CLI decides where they go and whether to colour them
(docs/architecture.md, Conventions 12). Values of ``config`` and ``env`` never appear: only
their names (secrets never leak).
"""

from __future__ import annotations

from typing import Any

from ironship import FORMAT_VERSION, __version__
from ironship.deploy.guard import history_id
from ironship.deploy.models import (
    OUTCOMES,
    SCHEDULE_OUTCOMES,
    ApplyOutcome,
    ApplyResult,
    Plan,
    SchedulePlan,
    ScheduleResult,
    SmokeOutcome,
    WorkerPlan,
    WorkerResult,
)
from ironship.deploy.schedule_json import schedule_json
from ironship.deploy.schedules import schedule_timing
from ironship.deploy.stamps import DIGEST_KEY, GIT_SHA_KEY
from ironship.smoke.report import Payloads, to_json

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "unchanged": " ", "orphan": "?"}
STYLES = {"create": "green", "update": "yellow", "delete": "red", "orphan": "magenta"}


def summary_line(plan: Plan) -> str:
    s = plan.summary
    if not plan.has_changes:
        text = f"No changes. {s['unchanged']} unchanged"
    else:
        text = (
            f"Plan: {s['create']} to create, {s['update']} to update, "
            f"{s['delete']} to delete, {s['unchanged']} unchanged"
        )
    if s["orphan"]:
        text += f", {s['orphan']} orphan(s) on the server (not touched; see --prune)"
    return text + _schedules_summary(plan) + "."


def _schedules_summary(plan: Plan) -> str:
    """``; schedules: 1 to create, 1 to replace`` (zeros left out; nothing without schedules)."""
    s = plan.schedule_summary
    words = (("create", "to create"), ("update", "to replace"), ("delete", "to cancel"))
    parts = [f"{s[action]} {text}" for action, text in words if s[action]]
    parts += [f"{s['unchanged']} unchanged"] if s["unchanged"] else []
    if s["orphan"]:
        parts.append(f"{s['orphan']} orphan(s) (not touched; see --prune)")
    return f"; schedules: {', '.join(parts)}" if parts else ""


def schedule_line(sp: SchedulePlan) -> str:
    """``+ schedule nightly (every 1d)``, ``~ schedule hourly (every 1h → 30m)``, …"""
    shown = ", ".join(sp.changes) if sp.action == "update" else schedule_timing(sp)
    reasons = "" if sp.action in ("create", "update", "unchanged") else ", ".join(sp.changes)
    text = f"{SYMBOLS[sp.action]} schedule {sp.name}"
    text += f" ({shown})" if shown else ""
    return text + (f": {reasons}" if reasons else "")


def _head(wp: WorkerPlan) -> str:
    head = f"{SYMBOLS[wp.action]} {wp.name}: {wp.action}"
    if wp.action == "update":
        kinds = [k for k, on in (("code", wp.code_changed), ("settings", wp.settings)) if on]
        kinds += ["schedules"] if wp.schedule_changes else []
        head += f" ({', '.join(kinds)})"
    elif wp.action == "unchanged" and wp.schedule_changes:
        head += " (schedules change)"
    return head


def plan_lines(plan: Plan, *, verbose: bool = False) -> list[tuple[str, str | None]]:
    """(text, style) lines: one header per worker and an indented line per reason."""
    out: list[tuple[str, str | None]] = []
    for wp in plan.workers:
        shown = [sp for sp in wp.schedules if verbose or sp.action != "unchanged"]
        if wp.action == "unchanged" and not verbose and not shown:
            continue
        out.append((_head(wp), STYLES.get(wp.action)))
        out.extend((f"    {reason}", None) for reason in wp.reasons)
        out.extend((f"    {schedule_line(sp)}", STYLES.get(sp.action)) for sp in shown)
    out.extend((f"note: {n}", None) for n in plan.notes)
    out.append((summary_line(plan), "bold"))
    return out


def _worker_json(wp: WorkerPlan) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": wp.name, "action": wp.action, "reasons": list(wp.reasons)}
    doc["code_changed"] = wp.code_changed
    doc["settings"] = [
        {"key": s.key} if s.sensitive else {"key": s.key, "before": s.before, "after": s.after}
        for s in wp.settings
    ]
    if wp.files is not None and wp.files.known:
        doc["files"] = {
            "added": list(wp.files.added),
            "removed": list(wp.files.removed),
            "changed": list(wp.files.changed),
        }
    if wp.remote is not None:
        doc["before"] = {
            "id": wp.remote.id,
            "rev": wp.remote.rev,
            "latest_history_id": history_id(wp.remote),
            "digest": wp.remote.env_vars.get(DIGEST_KEY),
            "checksum": wp.remote.latest_checksum,
            "git_sha": wp.remote.env_vars.get(GIT_SHA_KEY),
        }
    doc["schedule_changes"] = wp.schedule_changes
    doc["schedules"] = [schedule_json(sp) for sp in wp.schedules]
    if wp.local is not None:
        doc["after"] = {
            "digest": wp.local.digest,
            "files_digest": wp.local.files_digest,
            "smoke_digest": wp.local.smoke_digest,
            "files": wp.local.file_count,
            "bytes": wp.local.total_size,
        }
    return doc


def plan_json(plan: Plan, target: str) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "ironship_version": __version__,
        "target": target,
        "has_changes": plan.has_changes,
        "summary": plan.summary,
        "schedule_summary": plan.schedule_summary,
        "notes": list(plan.notes),
        "workers": [_worker_json(w) for w in plan.workers],
    }


def _detail(r: WorkerResult) -> str:
    if r.outcome == "unchanged":
        return f"rev {r.rev}" if r.rev is not None else ""
    if r.outcome in ("created", "updated"):
        what = "code + settings" if r.code_uploaded else "settings only"
        before = f"rev {r.previous_rev} → " if r.previous_rev is not None else ""
        return f"{before}rev {r.rev} ({what})"
    if r.outcome == "conflict":
        return f"not uploaded: {r.message}" if r.message else "not uploaded"
    return r.message or ""  # failed, skipped, deleted, orphan


def _schedule_detail(r: ScheduleResult) -> str:
    if r.outcome in ("created", "replaced"):
        replaced = f" (replaces {', '.join(r.cancelled)})" if r.cancelled else ""
        return f"id {r.id}{replaced}"
    if r.outcome == "cancelled":
        return ", ".join(r.cancelled)
    if r.outcome in ("unchanged", "orphan"):
        return f"id {r.id}" if r.id else ""
    return r.message or ""  # failed, skipped


def result_rows(result: ApplyResult) -> list[tuple[str, str, str, str]]:
    """worker, action, outcome, detail: the table printed at the end of apply. Each worker's
    schedules follow it, as ``  schedule NAME`` rows."""
    rows: list[tuple[str, str, str, str]] = []
    for r in result.results:
        rows.append((r.name, r.action, r.outcome, _detail(r)))
        rows.extend(
            (f"  schedule {s.name}", s.action, s.outcome, _schedule_detail(s)) for s in r.schedules
        )
    return rows


def outcome_counts(result: ApplyResult) -> dict[str, int]:
    """How many workers ended each way (every outcome listed, zeros included)."""
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for r in result.results:
        counts[r.outcome] += 1
    return counts


def schedule_outcome_counts(result: ApplyResult) -> dict[str, int]:
    """How many schedules ended each way, over every worker (zeros included)."""
    counts: dict[str, int] = dict.fromkeys(SCHEDULE_OUTCOMES, 0)
    for s in (s for r in result.results for s in r.schedules):
        counts[s.outcome] += 1
    return counts


def result_summary(result: ApplyResult) -> str:
    """One line for the end of apply: ``2 updated, 1 conflict, 1 skipped.`` (zeros left out),
    then the schedules: ``; schedules: 1 created, 1 replaced``."""
    parts = [f"{n} {outcome}" for outcome, n in outcome_counts(result).items() if n]
    text = ", ".join(parts) or "nothing to do"
    changed = [
        f"{n} {outcome}"
        for outcome, n in schedule_outcome_counts(result).items()
        if n and outcome not in ("unchanged", "orphan")
    ]
    return text + (f"; schedules: {', '.join(changed)}" if changed else "") + "."


def apply_json(result: ApplyResult, target: str) -> dict[str, Any]:
    doc = plan_json(result.plan, target)
    doc["outcomes"] = outcome_counts(result)
    doc["results"] = [
        {
            "name": r.name,
            "action": r.action,
            "outcome": r.outcome,
            "rev": r.rev,
            "previous_rev": r.previous_rev,
            "code_uploaded": r.code_uploaded,
            "message": r.message,
            "schedules": [
                {
                    "name": s.name,
                    "action": s.action,
                    "outcome": s.outcome,
                    "id": s.id,
                    "cancelled": list(s.cancelled),
                    "message": s.message,
                }
                for s in r.schedules
            ],
        }
        for r in result.results
    ]
    doc["schedule_outcomes"] = schedule_outcome_counts(result)
    return doc


def smoke_json(smoke: SmokeOutcome, payloads: Payloads | None = None) -> dict[str, Any]:
    """The ``smoke`` section of ``apply --json``: results (with their payloads, filtered), and
    the rollback when there was one."""
    doc = to_json(smoke.results, payloads)
    if smoke.rollback is not None:
        doc["rollback"] = dict(smoke.rollback)
    if smoke.recorded:
        doc["recorded"] = dict(smoke.recorded)
    return doc


def outcome_json(
    outcome: ApplyOutcome, target: str, payloads: Payloads | None = None
) -> dict[str, Any]:
    """The ``apply --json`` document: the plan, each worker's result and the smoke section."""
    assert outcome.applied is not None, "a cancelled apply prints no document"
    doc = apply_json(outcome.applied, target)
    if outcome.smoke is not None:
        doc["smoke"] = smoke_json(outcome.smoke, payloads)
    return doc
