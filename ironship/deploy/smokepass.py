"""A passing smoke run, recorded on the revision it tested: what ``promote`` asks for.

When every smoke test of a worker passes after ``apply --smoke``, the pipeline records it on
the server, with the stamps: a settings-only upload (no zip, so the package stays the one
tested: docs/ironworker-api.md §2 (Code packages)) that sends the worker's current ``data``
again plus ``IRONSHIP_SMOKE_PASSED``, the ``IRONSHIP_SMOKE`` digest of the tests that passed.
It adds a revision with the same checksum and settings, so ``plan`` still says unchanged
(stamps are not settings: docs/architecture.md, Stamps). Any later upload is built from the
manifest and carries no such stamp, so new code or settings need a passing run of their own.

Only ``apply --smoke`` records: ``ironship test`` stays read-only, as it may run against any
environment, production included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ironship.deploy.models import Plan, WorkerPlan
from ironship.deploy.ports import CodeStore
from ironship.deploy.settings import code_settings
from ironship.deploy.stamps import DIGEST_KEY, SMOKE_KEY
from ironship.errors import IronshipError
from ironship.iron.types import Code
from ironship.smoke.runner import SmokeResult

SMOKE_PASSED_KEY = "IRONSHIP_SMOKE_PASSED"  # the IRONSHIP_SMOKE digest whose tests all passed


def smoke_passed(env: Mapping[str, str]) -> bool:
    """Whether a revision's stamps record a pass of the very smoke tests it carries."""
    tested = env.get(SMOKE_KEY)
    return tested is not None and env.get(SMOKE_PASSED_KEY) == tested


def passing_workers(results: Sequence[SmokeResult]) -> tuple[str, ...]:
    """The workers all of whose smoke tests passed (each one with at least one test)."""
    names = dict.fromkeys(r.worker for r in results)
    return tuple(n for n in names if all(r.passed for r in results if r.worker == n))


def record_smoke_passes(store: CodeStore, plan: Plan, workers: Sequence[str]) -> dict[str, str]:
    """Record the pass of each of ``workers`` (planned in ``plan``); worker -> what happened.

    A worker whose server revision is no longer the one this apply planned (another deploy
    since) is left alone. A failed recording is reported, never raised: the tests passed.
    """
    if not workers:
        return {}
    codes = {c.name: c for c in store.list_codes()}
    planned = {w.name: w for w in plan.workers}
    return {name: _record(store, planned[name], codes.get(name)) for name in workers}


def _record(store: CodeStore, wp: WorkerPlan, listed: Code | None) -> str:
    tested = wp.local.smoke_digest if wp.local is not None else None
    if wp.local is None or tested is None or listed is None:
        return "not recorded: the worker is not on the server as planned"
    try:
        code = store.get_code(listed.id)
        if code.env_vars.get(DIGEST_KEY) != wp.local.digest:
            return "not recorded: the server holds another revision than the one tested"
        if code.env_vars.get(SMOKE_KEY) != tested:
            return "not recorded: the revision carries other smoke tests than the ones run"
        if code.env_vars.get(SMOKE_PASSED_KEY) == tested:
            return f"already recorded on revision {code.rev}"
        data = code_settings(code)
        data["env_vars"] = {**code.env_vars, SMOKE_PASSED_KEY: tested}
        now = store.get_code(store.upload_code(data, None))
    except IronshipError as exc:
        return f"not recorded: {exc}"
    if now.latest_checksum != code.latest_checksum:
        return (
            f"recorded as revision {now.rev}, but its checksum is {now.latest_checksum}, "
            f"not {code.latest_checksum}"
        )
    return f"recorded as revision {now.rev}"
