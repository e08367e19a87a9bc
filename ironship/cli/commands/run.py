"""``ironship run``: a worker from the working tree, run here as the engine runs its tasks.

The core is ``ironship/localrun/``; this module parses the options, prints the task's log as
it grows and exits with the worker's exit code. ``--smoke`` hands the local runs to the smoke
runner and reports exactly as ``ironship test`` does (``cli/commands/smoke.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship.cli.commands.smoke import (
    JunitOpt,
    announce,
    print_progress,
    report_nothing,
    report_outcome,
)
from ironship.cli.commands.tasks import LogWriter
from ironship.cli.options import (
    EnvOpt,
    FileOpt,
    JsonOpt,
    SecretsFileOpt,
    WorkerArg,
)
from ironship.cli.outputs import writable_file
from ironship.cli.payload import parse_payload, payload_text, read_payload_arg
from ironship.cli.ui import err, out
from ironship.deploy.models import SmokeOutcome
from ironship.deploy.pipeline import run_tests, smoke_cases
from ironship.deploy.planner import select_workers
from ironship.deploy.settings import canonical_json
from ironship.engine.run.spec import RunResult
from ironship.errors import IronshipError
from ironship.localrun.task import exit_code, follow, packages, start, wait_ended
from ironship.localrun.tasks import LocalTasks
from ironship.manifest.defaults import MAX_JSON_BYTES, deep_merge
from ironship.manifest.load import load_manifest
from ironship.manifest.models import Manifest, Worker
from ironship.paths import DEFAULT_MANIFEST
from ironship.secrets import revealed
from ironship.smoke.report import payloads_of

PayloadOpt = Annotated[
    str | None,
    typer.Option(
        "--payload",
        metavar="JSON|@FILE",
        help="JSON merged over the worker's default payload, or @FILE.",
    ),
]
ConfigArgOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="JSON|@FILE",
        help="JSON merged over the worker's config, or @FILE.",
    ),
]
RunParallelOpt = Annotated[
    int,
    typer.Option("--parallelism", metavar="N", min=1, max=64, help="With --smoke: tests at once."),
]
RunSmokeOpt = Annotated[
    str | None,
    typer.Option(
        "--smoke",
        metavar="",
        help="Run the worker's smoke tests this way instead, and report as `ironship test`.",
    ),
]


def _config_text(worker: Worker, config: str | None) -> str | None:
    """The config the task gets: the worker's, with --config merged over it (None: the
    upload's own)."""
    if config is None:
        return None
    if config.startswith("@"):
        path = Path(config[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise IronshipError(
                f"--config @{path}: cannot read the file: {exc}",
                hint="give a JSON file path after @, e.g. --config @config.json",
            ) from None
        given = parse_payload(text, f"--config @{path}", f"fix the JSON in {path}")
    else:
        given = parse_payload(
            config, "--config", "quote the JSON for your shell, e.g. --config '{\"key\": 1}'"
        )
    merged = deep_merge(worker.config, given) if worker.config is not None else given
    text = canonical_json(revealed(merged))
    if len(text.encode("utf-8")) > MAX_JSON_BYTES:
        raise IronshipError(
            f"--config: the config is over {MAX_JSON_BYTES} bytes as JSON",
            hint="IronWorker keeps a code's config small; pass large data by reference",
        )
    return text


def _payload_text(worker: Worker, payload: str | None) -> str:
    """As ``ironship queue`` builds it: --payload merged over the worker's default payload."""
    given = read_payload_arg(payload) if payload is not None else None
    body: Any = deep_merge(worker.payload, given) if given is not None else worker.payload
    return payload_text(body, given=given is not None)


def _ended(name: str, result: RunResult) -> str:
    took = f"{result.duration_ms / 1000:.2f} s"
    if result.status == "complete":
        return f"{name}: complete ({took})"
    if result.exit_code:
        return f"{name}: {result.status}, exit code {result.exit_code} ({took})"
    first = (result.msg or "").splitlines()[0] if result.msg else ""
    return f"{name}: {result.status}" + (f": {first}" if first else "") + f" ({took})"


def run(
    worker: WorkerArg,
    payload: PayloadOpt = None,
    config: ConfigArgOpt = None,
    smoke: RunSmokeOpt = None,
    parallelism: RunParallelOpt = 4,
    junit: JunitOpt = None,
    as_json: JsonOpt = False,
    file: FileOpt = Path(DEFAULT_MANIFEST),
    env: EnvOpt = None,
    secrets_file: SecretsFileOpt = None,
) -> None:
    """Run a worker from the working tree here, as the engine runs its tasks (no upload).

    Prints its output as it runs and exits with its exit code; --smoke runs its smoke tests
    this way instead.
    """
    if smoke is None and (junit is not None or as_json):
        raise IronshipError("--junit and --json report smoke tests", hint="add --smoke")
    if smoke is not None and (payload is not None or config is not None):
        raise IronshipError(
            "--payload and --config do not apply to --smoke",
            hint="each smoke test has its own payload in the manifest",
        )
    if smoke not in (None, "changed", "all"):
        raise IronshipError(f"--smoke={smoke}: unknown value", hint="use --smoke")
    if junit is not None:
        writable_file(junit, "--junit")
    manifest = load_manifest(file, env, secrets_file=secrets_file)
    (w,) = select_workers(manifest, [worker])
    if smoke is not None:
        _smoke(manifest, w, parallelism, junit, as_json)
        return
    body = _payload_text(w, payload)
    config_text = _config_text(w, config)
    with packages(manifest) as pk:
        spec = pk.spec(w, body, config=config_text, timeout=w.timeout)
        err.print(f"[dim]running {w.name} here (task {spec.task_id})[/dim]")
        proc = start(spec)
        writer = LogWriter()
        last = bytearray(b"\n")

        def write(chunk: bytes) -> None:
            writer.write(chunk)
            last[:] = chunk[-1:] or last

        try:
            result = follow(proc, spec, write)
        except KeyboardInterrupt:
            proc.cancel()
            wait_ended(proc)
            raise
        finally:
            writer.close()
    if last != b"\n" and out.is_terminal:
        out.file.write("\n")  # the status line below starts a line of its own
    err.print(_ended(w.name, result), markup=False)
    code = exit_code(result)
    if code:
        raise typer.Exit(code)


def _smoke(
    manifest: Manifest, worker: Worker, parallelism: int, junit: Path | None, as_json: bool
) -> None:
    cases = smoke_cases([worker])
    payloads = payloads_of(cases)
    if not cases:
        err.print(f"no smoke tests declared for {worker.name}")
        report_nothing(junit, as_json)
        return
    with packages(manifest) as pk:
        local = LocalTasks(manifest, pk)
        if not as_json:
            announce(len(cases), parallelism)
        on_result = (lambda _: None) if as_json else print_progress
        outcome = _interruptible(
            lambda: run_tests(local, cases, parallelism=parallelism, on_result=on_result), local
        )
    report_outcome(outcome, payloads, junit, as_json)


def _interruptible(work: Callable[[], SmokeOutcome], local: LocalTasks) -> SmokeOutcome:
    """Run ``work`` in a thread; Ctrl-C cancels the local tasks (so their tests end now, not
    at their timeouts), waits for it to wind down and stops the command."""
    done: list[SmokeOutcome] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # handed to the calling thread
            failed.append(exc)

    thread = threading.Thread(target=target, name="ironship-run-smoke", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        local.close()
        thread.join()
        raise
    if failed:
        raise failed[0]
    return done[0]
