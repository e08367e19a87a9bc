"""The deploy policy, once: plan → confirm → apply → smoke-test → roll back or record the
passes → exit code.

``run_apply`` is what ``ironship apply`` does and ``run_tests`` what ``ironship test`` does.
Both return a frozen result value the CLI renders as text or JSON; neither prints. The CLI
passes in the confirmation prompt and the progress callbacks (``ApplyHooks``), and the server
through the ``DeployClient`` port (docs/architecture.md, Conventions 1 and 16).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ironship import __version__, exitcodes
from ironship.deploy.executor import DEFAULT_PARALLELISM, apply_plan, rollback
from ironship.deploy.guard import apply_exit_code
from ironship.deploy.models import ApplyOutcome, ApplyResult, Plan, SmokeOutcome, WorkerResult
from ironship.deploy.planfile import SavedPlan, fresh_plan
from ironship.deploy.planner import make_plan
from ironship.deploy.ports import DeployClient
from ironship.deploy.smokepass import passing_workers, record_smoke_passes
from ironship.deploy.stamps import GIT_DIRTY_KEY, git_stamps, origin_stamps
from ironship.errors import IronshipError
from ironship.manifest.models import Manifest, SmokeTest, Worker
from ironship.packaging.buildroot import build_folder
from ironship.packaging.gitinfo import git_state, inputs_commit
from ironship.packaging.gitref import RefTree
from ironship.smoke.runner import SmokeClient, SmokeResult, run_smoke

SmokeMode = Literal["changed", "all"]
SmokeCase = tuple[Worker, SmokeTest]
StampSource = Callable[[Worker], Mapping[str, str]]


def no_stamps(_: Worker) -> Mapping[str, str]:
    return {}


def _ignore(_: object) -> None:
    """The default hook: nothing to show."""


@dataclass(frozen=True)
class ApplyRequest:
    """What ``apply`` was asked to do (its command-line options, parsed)."""

    only: tuple[str, ...] = ()
    prune: bool = False
    force: bool = False
    parallelism: int = DEFAULT_PARALLELISM
    smoke: SmokeMode | None = None  # None: no smoke tests
    rollback: bool = False  # --rollback-on-failure
    check_runtimes: bool = False  # warn about runtimes the target cannot run (local engine)
    refuse_dirty: bool = False  # in CI without --allow-dirty: no upload from a dirty tree
    continue_on_error: bool = True  # False: the first failed or conflicting worker skips the rest
    saved: SavedPlan | None = None  # apply PLAN: exactly that plan (refused if stale), no prompt


@dataclass(frozen=True)
class ApplyHooks:
    """The caller's side of ``run_apply``: one decision and the moments worth showing.

    ``confirm(question, what)`` approves a step (``what`` names it: ``apply`` or ``--prune``);
    it may raise ``IronshipError`` when it cannot ask. The ``on_*`` hooks only show progress.
    """

    confirm: Callable[[str, str], bool]
    on_install: Callable[[str], None] = _ignore  # a vendored tree is being installed
    on_plan: Callable[[Plan], None] = _ignore  # before any confirmation
    on_upload_start: Callable[[int], None] = _ignore  # how many workers change
    on_uploaded: Callable[[WorkerResult], None] = _ignore
    on_applied: Callable[[ApplyResult], None] = _ignore
    on_smoke_start: Callable[[int], None] = _ignore  # how many tests (0: none to run)
    on_smoke_result: Callable[[SmokeResult], None] = _ignore


def smoke_cases(workers: Sequence[Worker]) -> list[SmokeCase]:
    """Every (worker, test) pair, in manifest order."""
    return [(w, t) for w in workers for t in w.smoke]


def smoke_exit_code(results: Sequence[SmokeResult]) -> int:
    """3 when a test failed; 1 when one could not run at all (an API or network error)."""
    if any(not r.passed and not r.failures for r in results):
        return exitcodes.ERROR
    return exitcodes.SMOKE_FAILED if any(not r.passed for r in results) else exitcodes.OK


def run_tests(
    client: SmokeClient,
    cases: Sequence[SmokeCase],
    *,
    parallelism: int = 4,
    on_result: Callable[[SmokeResult], None] = _ignore,
) -> SmokeOutcome:
    """Run smoke tests against what is deployed (``ironship test``)."""
    results = tuple(run_smoke(client, cases, parallelism=parallelism, on_result=on_result))
    return SmokeOutcome(results, smoke_exit_code(results))


def run_apply(
    client: DeployClient,
    manifest: Manifest,
    request: ApplyRequest,
    hooks: ApplyHooks,
    *,
    stamps: StampSource = no_stamps,
    secret_key: bytes | None = None,
) -> ApplyOutcome:
    """Plan, confirm, upload what changed, verify, then smoke-test and roll back when asked.

    ``stamps`` gives a worker's metadata stamps (its git commit); it is called only for the
    workers that are uploaded, before anything is asked or uploaded. With
    ``request.refuse_dirty`` a worker stamped dirty stops the apply there. ``secret_key``
    (the target's) keys the digests of workers with secrets (``deploy/settings.py``).
    """
    plan = _plan(client, manifest, request, hooks, secret_key)
    hooks.on_plan(plan)
    stamp_map = _stamps_of_changed(manifest, plan, stamps)
    if request.refuse_dirty:
        refuse_dirty(stamp_map)
    if request.saved is None and not _approved(plan, hooks):
        return ApplyOutcome(plan, None, exitcodes.ERROR)
    applied = _apply(client, manifest, plan, request, hooks, stamp_map)
    hooks.on_applied(applied)
    code = apply_exit_code(applied)
    if request.smoke is None:
        return ApplyOutcome(plan, applied, code)
    if code != exitcodes.OK:
        return ApplyOutcome(plan, applied, code, smoke_skipped=True)
    smoke = _smoke_after_apply(client, manifest, applied, request, hooks)
    return ApplyOutcome(plan, applied, smoke.exit_code, smoke)


def _plan(
    client: DeployClient,
    manifest: Manifest,
    request: ApplyRequest,
    hooks: ApplyHooks,
    secret_key: bytes | None,
) -> Plan:
    """The plan to carry out: a fresh one, or the saved one (re-planned, refused if stale)."""
    stacks = client if request.check_runtimes else None
    if request.saved is not None:
        return fresh_plan(
            client,
            manifest,
            request.saved,
            parallelism=request.parallelism,
            stacks=stacks,
            secret_key=secret_key,
        )
    return make_plan(
        client,
        manifest,
        only=request.only,
        prune=request.prune,
        force=request.force,
        parallelism=request.parallelism,
        stacks=stacks,
        secret_key=secret_key,
        on_deps=hooks.on_install,
    )


def _approved(plan: Plan, hooks: ApplyHooks) -> bool:
    if not plan.has_changes:
        return True
    if not hooks.confirm("Apply these changes?", "apply"):
        return False
    deletes = plan.count("delete")
    return not deletes or hooks.confirm(
        f"Delete {deletes} worker(s) from the server? Their code and revisions are gone for good.",
        "--prune",
    )


def refuse_dirty(stamps: Mapping[str, Mapping[str, str]]) -> None:
    """Stop before any upload when a worker to upload is stamped dirty (the CI rule)."""
    dirty = sorted(name for name, s in stamps.items() if s.get(GIT_DIRTY_KEY) == "1")
    if dirty:
        raise IronshipError(
            f"CI is set: refusing to upload from a dirty tree: {', '.join(dirty)} "
            "(files under the worker's root differ from the last commit, or were never "
            "committed)",
            hint="commit the changes (git status lists them), or pass --allow-dirty to upload "
            "them anyway",
        )


def _apply(
    client: DeployClient,
    manifest: Manifest,
    plan: Plan,
    request: ApplyRequest,
    hooks: ApplyHooks,
    stamps: Mapping[str, Mapping[str, str]],
) -> ApplyResult:
    with build_folder(manifest.directory) as tmp:
        if not plan.has_changes:
            return apply_plan(client, plan, build_dir=tmp)
        hooks.on_upload_start(sum(1 for w in plan.workers if w.changes))
        return apply_plan(
            client,
            plan,
            build_dir=tmp,
            parallelism=request.parallelism,
            stamps=stamps,
            on_done=hooks.on_uploaded,
            continue_on_error=request.continue_on_error,
        )


def _stamps_of_changed(
    manifest: Manifest, plan: Plan, stamps: StampSource
) -> dict[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for wp in plan.workers:
        worker = manifest.worker(wp.name)
        if wp.changes and worker is not None:
            out[wp.name] = stamps(worker)
    return out


def git_stamps_of(worker: Worker, manifest: Path) -> dict[str, str]:
    """The git stamps of ``worker``: its inputs' commit (the last one touching its root or
    the manifest), whether its root differs from HEAD, and the tag or branch."""
    state = git_state(worker.root, also=(manifest,))
    return git_stamps(state.sha, state.dirty, state.ref)


def stamp_source(manifest: Path, env: Mapping[str, str] | None = None) -> StampSource:
    """Every provenance stamp of an upload from the working tree: git, version, CI, who."""
    origin = origin_stamps(__version__, os.environ if env is None else env)

    def stamps(worker: Worker) -> Mapping[str, str]:
        return {**git_stamps_of(worker, manifest), **origin}

    return stamps


def ref_stamp_source(tree: RefTree, env: Mapping[str, str] | None = None) -> StampSource:
    """The stamps of an upload built from a commit (``--ref``): the worker's inputs' commit
    as of that commit, clean, and the ref as given."""
    origin = origin_stamps(__version__, os.environ if env is None else env)
    manifest = tree.original(tree.manifest)

    def stamps(worker: Worker) -> Mapping[str, str]:
        root = tree.original(worker.root)
        sha = inputs_commit(tree.base, [root, manifest], at=tree.commit)
        return {**git_stamps(sha, False, tree.ref), **origin}

    return stamps


def smoke_targets(manifest: Manifest, applied: ApplyResult, mode: SmokeMode) -> list[Worker]:
    """The planned workers to smoke-test: the ones this apply changed, or all of them."""
    planned = {w.name for w in applied.plan.workers}
    changed = {r.name for r in applied.changed}
    return [
        w for w in manifest.workers if w.name in planned and (mode == "all" or w.name in changed)
    ]


def _smoke_after_apply(
    client: DeployClient,
    manifest: Manifest,
    applied: ApplyResult,
    request: ApplyRequest,
    hooks: ApplyHooks,
) -> SmokeOutcome:
    assert request.smoke is not None
    cases = smoke_cases(smoke_targets(manifest, applied, request.smoke))
    hooks.on_smoke_start(len(cases))
    outcome = run_tests(
        client, cases, parallelism=request.parallelism, on_result=hooks.on_smoke_result
    )
    if outcome.exit_code != exitcodes.OK and request.rollback:
        with build_folder(manifest.directory, "rollback") as tmp:
            report = rollback(client, applied, tmp)
        return SmokeOutcome(outcome.results, outcome.exit_code, report)
    # No rollback happened: each worker whose tests all passed gets its pass recorded, which
    # is what `ironship promote` asks of the revision it ships (deploy/smokepass.py).
    passed = passing_workers(outcome.results)
    recorded = record_smoke_passes(client, applied.plan, passed)
    return replace(outcome, recorded=recorded)
