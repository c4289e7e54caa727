"""`mastermind run`: run a workflow in this process, with live progress and JSON outputs."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from mastermind.agent import AgentRegistry
from mastermind.coordinator import Coordinator, new_run_id
from mastermind.errors import InputError
from mastermind.events import RunStatus
from mastermind.inputs import parse_cli_input
from mastermind.loader import Definition, load_file
from mastermind.progress import Progress
from mastermind.run import RunResult


def add_run_commands(sub: Any) -> None:
    """Register `run` on the CLI's sub-command parser."""
    run = sub.add_parser("run", help="run a workflow here, without a daemon")
    run.add_argument("file")
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
    run.set_defaults(handler=cmd_run)


def _inputs(definition: Definition, args: argparse.Namespace) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if args.inputs:
        try:
            loaded = json.loads(Path(args.inputs).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read inputs from {args.inputs}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"{args.inputs} must hold a JSON object")
        given.update(loaded)
    for assignment in args.input:
        name, value = parse_cli_input(definition.spec, assignment)
        given[name] = value
    return given


def cmd_run(args: argparse.Namespace) -> int:
    """Load, run, print outputs; exit 0 ok, 1 failed, 130 interrupted."""
    registry = AgentRegistry()
    definition = load_file(args.file, registry)
    inputs = _inputs(definition, args)
    result = run_with_loop(_run(definition, inputs, registry, quiet=args.quiet))
    if result.outputs is not None or result.ok:
        print(json.dumps(result.outputs, indent=2, default=str))
    if result.status == RunStatus.CANCELLED:
        return 130
    return 0 if result.ok else 1


def run_with_loop(coro: Any) -> Any:
    """Run a coroutine on uvloop (the default loop where uvloop is missing)."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


async def _run(
    definition: Definition, inputs: dict[str, Any], registry: AgentRegistry, *, quiet: bool
) -> RunResult:
    loop = asyncio.get_running_loop()
    async with Coordinator(registry) as coordinator:
        run_id = new_run_id()
        progress = None if quiet else Progress(sys.stderr, run_id, len(definition.steps))
        if progress is not None:
            coordinator.subscribe(progress)
        await coordinator.submit(definition, inputs, run_id=run_id)
        main = asyncio.current_task()
        interrupts = 0

        def interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                print(
                    "\ninterrupted: cancelling the run (Ctrl-C again to stop at once)",
                    file=sys.stderr,
                )
                coordinator.cancel(run_id)
            elif main is not None:
                main.cancel()

        loop.add_signal_handler(signal.SIGINT, interrupt)
        loop.add_signal_handler(signal.SIGTERM, interrupt)
        try:
            return await coordinator.wait(run_id)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            if progress is not None:
                progress.close()
