"""`mastermind run` and `mastermind resume`: run workflows in this process, recorded in the
state directory (SQLite), with live progress and JSON outputs. Ctrl-C cancels the run (exit
130); SIGTERM stops it without writing, so `mastermind resume` continues it (exit 143)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mastermind.cli.client import json_text
from mastermind.cli.completion import complete_files
from mastermind.cli.inputs_file import read_inputs_file
from mastermind.cli.progress import Progress
from mastermind.cli.store_options import add_state_dir, open_store
from mastermind.engine.agent import AgentRegistry
from mastermind.engine.coordinator import Coordinator, new_run_id, restore_plan
from mastermind.engine.run import RunResult
from mastermind.engine.runtime import run_with_loop
from mastermind.errors import MastermindError
from mastermind.language.inputs import parse_cli_input
from mastermind.language.loader import Definition, load_file, load_text
from mastermind.store.base import Store, expand_run_id
from mastermind.store.events import Event, RunStatus, StepStatus


def add_run_commands(sub: Any) -> None:
    """Register `run` and `resume` on the CLI's sub-command parser."""
    run = sub.add_parser("run", help="run a workflow here, without a daemon")
    complete_files(run.add_argument("file"))
    run.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input (JSON unless the input is a string); repeatable",
    )
    run.add_argument("--inputs", metavar="FILE", help="a JSON file of inputs")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress, outputs only")
    run.add_argument(
        "--ephemeral", action="store_true", help="keep the run in memory only (not resumable)"
    )
    add_state_dir(run)
    run.set_defaults(handler=cmd_run)

    resume = sub.add_parser("resume", help="continue unfinished runs after a crash")
    resume.add_argument(
        "run_id", nargs="?", help="one run, any unique prefix of its id (default: every one)"
    )
    resume.add_argument("-q", "--quiet", action="store_true")
    add_state_dir(resume)
    resume.set_defaults(handler=cmd_resume)


def _inputs(definition: Definition, args: argparse.Namespace) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if args.inputs:
        given.update(read_inputs_file(args.inputs))
    for assignment in args.input:
        name, value = parse_cli_input(definition.spec, assignment)
        given[name] = value
    return given


def cmd_run(args: argparse.Namespace) -> int:
    """Load, run, print outputs; exit 0 ok, 1 failed, 130 interrupted."""
    registry = AgentRegistry()
    definition = load_file(args.file, registry)
    inputs = _inputs(definition, args)
    run_id = new_run_id()
    gc.freeze()  # modules and the definition live for the whole run: GC need not rescan them

    async def start(coordinator: Coordinator) -> list[str]:
        await coordinator.submit(definition, inputs, run_id=run_id)
        if not args.ephemeral and not args.quiet:
            print(
                f"mastermind: run {run_id} started (resume it after a crash with "
                f"`mastermind resume {run_id[:12]}`)",
                file=sys.stderr,
            )
        return [run_id]

    sizes = {run_id: len(definition.steps)}
    results = run_with_loop(_drive(open_store(args), registry, start, sizes, quiet=args.quiet))
    return _report(results)


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume one or every unfinished run in the state directory."""
    registry = AgentRegistry()

    async def start(coordinator: Coordinator) -> list[str]:
        store = coordinator.store
        if args.run_id:
            wanted = [await expand_run_id(store, args.run_id)]
        else:
            wanted = [r.run_id for r in await store.unfinished_runs() if r.parent is None]
        waiting: list[str] = []
        for run_id in list(wanted):
            doubts = await in_doubt(coordinator, run_id)
            if doubts:  # nobody here could answer the question: say how to, and leave it
                wanted.remove(run_id)
                waiting.append(run_id)
                for step_id in doubts:
                    print(_waiting_for_decision(run_id, step_id), file=sys.stderr)
        started, skipped = await coordinator.resume_unfinished(wanted)
        refused = skipped.get(wanted[0], "") if args.run_id and wanted else ""
        if refused and "being run by" not in refused:
            raise MastermindError(refused)  # e.g. already finished: exit 1
        for run_id, why in skipped.items():
            print(f"mastermind: {run_id} not resumed: {why}", file=sys.stderr)
        if args.run_id and waiting:
            raise MastermindError(f"run {waiting[0]} waits for a decision (see above)")
        if not started and waiting:  # not "nothing": these wait for a person
            print(
                f"mastermind: nothing resumed; {len(waiting)} run(s) wait for a decision "
                "(see above)",
                file=sys.stderr,
            )
        elif not started:
            print("mastermind: nothing to resume", file=sys.stderr)
        for run_id in started:
            print(f"mastermind: resuming {run_id}", file=sys.stderr)
        return started

    results = run_with_loop(_drive(open_store(args), registry, start, {}, quiet=args.quiet))
    return _report(results)


def _keep_leases(coordinator: Coordinator, store: Store) -> asyncio.Task[None] | None:
    """With PostgreSQL, renew the leases of the runs this command runs until it ends (a
    worker on the same database would otherwise take them over when they expire)."""
    if "asyncpg" not in sys.modules:  # no PostgreSQL store without it: keep startup lean
        return None
    from mastermind.service.leases import LeaseKeeper
    from mastermind.store.postgres import PostgresStore

    if not isinstance(store, PostgresStore):
        return None
    return asyncio.get_running_loop().create_task(
        LeaseKeeper(coordinator, store).run(), name="leases"
    )


TERMINATED = "terminated (SIGTERM); it stays resumable"


async def in_doubt(coordinator: Coordinator, run_id: str) -> dict[str, int]:
    """Steps declared `effect: at_most_once` that were running when the run's process stopped,
    with how many of their instances are in doubt: only a person can say whether to redo them."""
    record = await coordinator.store.get_run(run_id)
    if record is None or record.finished or "at_most_once" not in record.definition:
        return {}  # (the text test spares loading every workflow that cannot be in doubt)
    definition = await asyncio.to_thread(
        load_text, record.definition, record.file, coordinator.registry
    )
    plan = restore_plan(definition, await coordinator.store.steps(run_id))
    return {step_id: len(restore.unknown) for step_id, restore in plan.items() if restore.unknown}


def _waiting_for_decision(run_id: str, step_id: str) -> str:
    return (
        f"mastermind: run {run_id} not resumed: step {step_id} (effect: at_most_once) was "
        "running when its process stopped, so whether its effect happened is unknown. Decide: "
        f"`mastermind runs decide {run_id[:12]} {step_id} retry` runs it again, "
        f"`mastermind runs decide {run_id[:12]} {step_id} skip` goes on without it "
        "(a daemon serving the run takes the signal decide.STEP instead)"
    )


@dataclass(slots=True)
class _Ended:
    """A run's result, and the errors of its steps that failed (for the message on stderr)."""

    run_id: str
    status: str
    outputs: Any
    error: str | None
    ok: bool
    failures: dict[str, str]


def _report(results: list[_Ended]) -> int:
    for result in results:
        if result.status == RunStatus.RUNNING:  # stopped here unfinished (SIGTERM, lease lost)
            print(f"mastermind: run {result.run_id} stopped here: {result.error}", file=sys.stderr)
    if any(r.status == RunStatus.RUNNING and r.error == TERMINATED for r in results):
        return 143  # 128 + SIGTERM, as a process killed by it
    if len(results) == 1:
        result = results[0]
        if result.outputs is not None or result.ok:
            print(json_text(result.outputs))
    elif results:
        print(json_text({r.run_id: {"status": r.status, "outputs": r.outputs} for r in results}))
    for result in results:
        # also with -q: why, on stderr, with the failed steps' own errors
        if not result.ok and result.status != RunStatus.RUNNING:
            details = "".join(f"\n  {step}: {error}" for step, error in result.failures.items())
            print(
                f"mastermind: run {result.run_id} {result.status}: {result.error}{details}",
                file=sys.stderr,
            )
    if any(r.status == RunStatus.CANCELLED for r in results):
        return 130
    return 0 if all(r.ok for r in results) else 1


def _ended(result: RunResult, failures: dict[str, str]) -> _Ended:
    return _Ended(result.run_id, result.status, result.outputs, result.error, result.ok, failures)


def cmd_decide(args: argparse.Namespace) -> int:
    """`runs decide RUN STEP retry|skip`: resume a run whose at_most_once step is in doubt,
    with the decision already given, and drive it to its end here."""
    registry = AgentRegistry()

    async def start(coordinator: Coordinator) -> list[str]:
        run_id = await expand_run_id(coordinator.store, args.run_id)
        doubts = await in_doubt(coordinator, run_id)
        if args.step not in doubts:
            asked = ", ".join(doubts) or "none"
            raise MastermindError(
                f"run {run_id}: step {args.step} is not waiting for a decision "
                f"(steps waiting: {asked})"
            )
        started, skipped = await coordinator.resume_unfinished([run_id])
        if not started:
            raise MastermindError(f"run {run_id} not resumed: {skipped.get(run_id)}")
        for _ in range(doubts[args.step]):  # one decision per instance in doubt
            coordinator.signal(run_id, f"decide.{args.step}", args.decision)
        for step_id in doubts:
            if step_id != args.step:
                print(_waiting_for_decision(run_id, step_id), file=sys.stderr)
        print(f"mastermind: {run_id}: {args.step}: {args.decision}; resuming", file=sys.stderr)
        return started

    results = run_with_loop(_drive(open_store(args), registry, start, {}, quiet=args.quiet))
    return _report(results)


async def _drive(
    store: Store,
    registry: AgentRegistry,
    start: Callable[[Coordinator], Awaitable[list[str]]],
    sizes: dict[str, int],
    *,
    quiet: bool,
) -> list[_Ended]:
    """Open the store, start runs, show progress, wait; Ctrl-C cancels the runs cleanly."""
    loop = asyncio.get_running_loop()
    try:
        coordinator = Coordinator(registry, store)
        await coordinator.__aenter__()
    except (OSError, MastermindError) as exc:
        raise MastermindError(f"cannot open the state directory: {exc}") from None
    leases = _keep_leases(coordinator, store)  # PostgreSQL: this process owns its runs
    try:
        progress: list[Progress] = []
        if not quiet:
            for run_id, size in sizes.items():
                progress.append(Progress(sys.stderr, run_id, size))
                coordinator.subscribe(progress[-1])
        failures: dict[str, dict[str, str]] = {}

        def note_failure(event: Event) -> None:
            if event.status == StepStatus.FAILED and event.step_id and event.error:
                failures.setdefault(event.run_id, {}).setdefault(event.step_id, event.error)

        coordinator.subscribe(note_failure)
        run_ids = await start(coordinator)
        if not quiet and not sizes:
            for run_id in run_ids:  # resumed runs: progress from here on
                coordinator.subscribe(Progress(sys.stderr, run_id, 0))
        main = asyncio.current_task()
        interrupts = 0

        def interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                print("\ninterrupted: cancelling (Ctrl-C again to stop at once)", file=sys.stderr)
                for run_id in run_ids:
                    coordinator.cancel(run_id)
            elif main is not None:
                main.cancel()

        def terminate() -> None:  # a shutdown, not a cancel: stop without writing
            print("\nterminated: stopping; `mastermind resume` continues", file=sys.stderr)
            for run_id in run_ids:
                coordinator.abandon(run_id, TERMINATED)

        loop.add_signal_handler(signal.SIGINT, interrupt)
        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            ended = [await coordinator.wait(run_id) for run_id in run_ids]
            return [_ended(result, failures.get(result.run_id, {})) for result in ended]
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            for bar in progress:
                bar.close()
    finally:
        if leases is not None:
            leases.cancel()
            await asyncio.gather(leases, return_exceptions=True)
        await coordinator.aclose()
