"""`mastermind runs list|show`: read runs from the store."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from mastermind.cli.store_options import add_state_dir
from mastermind.errors import MastermindError
from mastermind.store.base import RunRecord, StepRecord, expand_run_id


def add_runs_command(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list and show recorded runs")
    verbs = runs.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="runs, newest first")
    listing.add_argument("--status")
    listing.add_argument("--workflow")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--format", choices=["text", "json"], default="text")
    add_state_dir(listing)
    listing.set_defaults(handler=cmd_runs_list)
    show = verbs.add_parser("show", help="one run: steps, attempts, timings, errors")
    show.add_argument("run_id", help="the run (any unique prefix of its id)")
    show.add_argument("--events", action="store_true", help="also print the event log")
    show.add_argument("--format", choices=["text", "json"], default="text")
    add_state_dir(show)
    show.set_defaults(handler=cmd_runs_show)
    decide = verbs.add_parser(
        "decide",
        help="retry or skip an at_most_once step left in doubt by a crash, and resume the run",
    )
    decide.add_argument("run_id", help="the run (any unique prefix of its id)")
    decide.add_argument("step", help="the step id")
    decide.add_argument("decision", choices=["retry", "skip"])
    decide.add_argument("-q", "--quiet", action="store_true", help="no progress, outputs only")
    add_state_dir(decide)
    decide.set_defaults(handler=_decide)
    prune = verbs.add_parser("prune", help="delete finished runs older than an age")
    prune.add_argument("--older-than", required=True, help="an age such as 30d or 12h")
    add_state_dir(prune)
    prune.set_defaults(handler=cmd_runs_prune)


def _decide(args: argparse.Namespace) -> int:
    from mastermind.cli.run import cmd_decide

    return cmd_decide(args)


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def _took(start: float | None, end: float | None) -> str:
    return f"{end - start:.2f}s" if start and end else "-"


def cmd_runs_list(args: argparse.Namespace) -> int:
    from mastermind.cli.store_options import open_store
    from mastermind.engine.runtime import run_with_loop

    async def read() -> list[RunRecord]:
        store = open_store(args)
        await store.open()
        try:
            return await store.list_runs(
                status=args.status, workflow=args.workflow, limit=args.limit
            )
        finally:
            await store.close()

    runs = run_with_loop(read())
    if args.format == "json":
        print(json.dumps([_run_dict(r) for r in runs], indent=2, default=str))
        return 0
    print(f"{'run':32}  {'workflow':20}  {'status':10}  {'created':19}  took")
    for run in runs:
        print(
            f"{run.run_id:32}  {run.workflow[:20]:20}  {run.status:10}  "
            f"{_when(run.created_at):19}  {_took(run.started_at, run.finished_at)}"
        )
    return 0


def _run_dict(run: RunRecord) -> dict[str, Any]:
    data = asdict(run)
    data.pop("definition")
    return data


def cmd_runs_show(args: argparse.Namespace) -> int:
    from mastermind.cli.store_options import open_store
    from mastermind.engine.runtime import run_with_loop

    async def read() -> tuple[RunRecord | None, list[StepRecord], list[Any]]:
        store = open_store(args)
        await store.open()
        try:
            run = await store.get_run(await expand_run_id(store, args.run_id))
            steps = await store.steps(run.run_id) if run else []
            events = await store.events(run.run_id) if run and args.events else []
            return run, steps, events
        finally:
            await store.close()

    run, steps, events = run_with_loop(read())
    if run is None:
        raise MastermindError(f"no run {args.run_id} in the store")
    if args.format == "json":
        print(
            json.dumps(
                {
                    "run": _run_dict(run),
                    "steps": [asdict(s) for s in steps],
                    "events": [e.to_dict() for e in events],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print(f"run       {run.run_id}")
    print(f"workflow  {run.workflow} ({run.file}, sha256 {run.digest[:12]})")
    print(f"status    {run.status}" + (f": {run.error}" if run.error else ""))
    print(f"created   {_when(run.created_at)}   took {_took(run.started_at, run.finished_at)}")
    print(f"inputs    {json.dumps(run.inputs)}")
    if run.outputs is not None:
        print(f"outputs   {json.dumps(run.outputs)}")
    print("steps:")
    for step in steps:
        name = step.step_id + ("" if step.item_index is None else f"[{step.item_index}]")
        took = _took(step.started_at, step.finished_at)
        line = f"  {name:24} {step.status:10} attempts {step.attempt:<3} {took:>9}"
        print(line + (f"  {step.error}" if step.error else ""))
    for event in events:
        print(json.dumps(event.to_dict(), default=str))
    return 0


def cmd_runs_prune(args: argparse.Namespace) -> int:
    """Retention: finished runs that ended before now - age go, with their events."""
    from mastermind.cli.store_options import open_store
    from mastermind.engine.runtime import run_with_loop
    from mastermind.language.durations import parse_duration

    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise MastermindError(str(exc)) from None

    async def prune() -> int:
        store = open_store(args)
        await store.open()
        try:
            return await store.prune(time.time() - age)
        finally:
            await store.close()

    print(f"pruned {run_with_loop(prune())} finished run(s)")
    return 0
