"""The `mastermind` command line. The CLI owns the terminal: library code only logs.

Exit codes: 0 success, 1 the work failed (invalid workflow, failed run), 2 usage error,
130 interrupted, 141 stdout closed early (e.g. by `| head`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mastermind import __version__
from mastermind.cli.completion import add_completion_command, complete_files
from mastermind.errors import MastermindError, WorkflowError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE


class UsageError(MastermindError):
    """The command line itself is wrong (exit 2)."""


def _parser() -> argparse.ArgumentParser:
    """The whole command line: every command."""
    parser, _ = _build()
    return parser


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """A parser for this command line: with only its command when it names one, since building
    the others (~20 M instructions, 2% of a `mastermind run`) is wasted work."""
    if argv and not argv[0].startswith("-"):
        parser, found = _build(only=argv[0])
        if found:
            return parser
    return _parser()  # no command, an option first, or an unknown command: help lists them all


class _OnlyCommand:
    """The sub-command registry as the `add_*` functions see it when one command is wanted:
    that command's parser is built, the others are handed a stand-in that keeps nothing."""

    def __init__(self, sub: Any, name: str) -> None:
        self.sub, self.name, self.found = sub, name, False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self.name:
            return _Unused()
        self.found = True
        return self.sub.add_parser(name, **kwargs)


class _Unused:
    """A parser nobody reads: accepts every call (returning itself) and every attribute."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self

    def __setattr__(self, name: str, value: Any) -> None:
        pass


def _build(only: str | None = None) -> tuple[argparse.ArgumentParser, bool]:
    """The parser (with only command `only`, if given) and whether that command exists."""
    parser = argparse.ArgumentParser(
        prog="mastermind", description="asyncio workflow orchestration: run YAML workflows"
    )
    parser.add_argument("--version", action="version", version=f"mastermind {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub: Any = commands if only is None else _OnlyCommand(commands, only)

    validate = sub.add_parser("validate", help="check workflow files or folders")
    complete_files(validate.add_argument("paths", nargs="+", metavar="PATH"))
    validate.add_argument("--format", choices=["text", "json"], default="text")
    validate.set_defaults(handler=cmd_validate)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the workflow language, with every installed agent's "
        "parameters",
    )
    schema.set_defaults(handler=cmd_schema)

    graph = sub.add_parser("graph", help="print a workflow's step graph")
    complete_files(graph.add_argument("file"))
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.set_defaults(handler=cmd_graph)

    serve = sub.add_parser("serve", help="the daemon: API, metrics, runs (systemd Type=notify)")
    complete_files(
        serve.add_argument("--config", help="YAML config file (see config/mastermind.yaml)")
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text for people, json (one object per line) for journald and Loki "
        "(default: the config's log_format)",
    )
    serve.set_defaults(handler=cmd_serve)

    socratic = sub.add_parser("socratic", help="interactive premise / challenge / conclude console")
    socratic.add_argument(
        "--premises", metavar="FILE", help="JSON file the premises are loaded from and saved to"
    )
    socratic.add_argument(
        "--config", help="daemon config whose agents.llm (base_url, model, api_key) is the model"
    )
    socratic.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. .../v1")
    socratic.add_argument("--model", help="model name for `conclude`")
    socratic.set_defaults(handler=cmd_socratic)

    from mastermind.cli.client import add_client_commands
    from mastermind.cli.inspect import add_inspect_command
    from mastermind.cli.run import add_run_commands
    from mastermind.cli.runs import add_runs_command
    from mastermind.cli.worker import add_worker_command

    add_run_commands(sub)
    add_runs_command(sub)
    add_worker_command(sub)
    add_client_commands(sub)
    add_inspect_command(sub)
    add_completion_command(sub, _parser)
    return parser, only is None or sub.found


def cmd_validate(args: argparse.Namespace) -> int:
    """Load every workflow; print each problem in compiler format (or JSON)."""
    from mastermind.engine.agent import AgentRegistry
    from mastermind.language.loader import LoadReport, workflow_files

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    files = workflow_files(args.paths)
    registry = AgentRegistry()
    report = LoadReport()
    for path in files:
        report.add(path, registry)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "valid": not report.problems,
                    "files": len(files),
                    "problems": [p.as_dict() for p in report.problems],
                },
                indent=2,
            )
        )
    else:
        for problem in report.problems:
            print(problem)
        bad = len({p.file for p in report.problems})
        print(
            f"{len(files)} file(s) checked, {len(files) - bad} valid, {bad} invalid",
            file=sys.stderr,
        )
    return EXIT_FAILED if report.problems else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema."""
    from mastermind.engine.agent import AgentRegistry
    from mastermind.language.schema import workflow_schema_text

    sys.stdout.write(workflow_schema_text(AgentRegistry()))  # plug-ins included
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    """Print the DAG of one workflow."""
    from mastermind.engine.agent import AgentRegistry
    from mastermind.language.graph import to_dot, to_mermaid
    from mastermind.language.loader import load_file

    definition = load_file(args.file, AgentRegistry())
    sys.stdout.write(to_mermaid(definition) if args.format == "mermaid" else to_dot(definition))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM."""
    from mastermind.service.daemon import serve

    return serve(args.config, args.log_format)


def cmd_socratic(args: argparse.Namespace) -> int:
    """The interactive reasoning console (reads commands from stdin). The model's key comes
    from the config's agents.llm.api_key or the environment variable MASTERMIND_LLM_API_KEY."""
    from mastermind.cli.socratic_console import Model, run_console

    settings: dict[str, Any] = {}
    if args.config:
        from mastermind.service.config import load_config

        settings = dict(load_config(args.config).agents.get("llm", {}))
    base_url = args.base_url or settings.get("base_url")
    name = args.model or settings.get("model")
    key = os.environ.get("MASTERMIND_LLM_API_KEY") or str(settings.get("api_key") or "")
    model = Model(str(base_url), str(name), key) if base_url and name else None
    premises = Path(args.premises) if args.premises else None
    return run_console(model=model, premises_file=premises)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mastermind` console script."""
    # Building the parser imports the command's modules (pydantic, asyncio, the engine): many
    # objects and no garbage, so the collector's passes over them are wasted (~10 M
    # instructions, 1% of a `mastermind run`). Off meanwhile, restored before the command runs.
    arguments = sys.argv[1:] if argv is None else list(argv)
    collecting = gc.isenabled()
    gc.disable()
    try:
        parser = _parser_for(arguments)
    finally:
        if collecting:
            gc.enable()
    args = parser.parse_args(arguments)
    try:
        code: int = args.handler(args)
    except WorkflowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_FAILED
    except UsageError as exc:
        print(f"mastermind: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MastermindError as exc:
        print(f"mastermind: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("mastermind: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`mastermind runs list | head -1`): stop quietly, like other
        # tools; stdout goes to /dev/null so the interpreter's last flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
