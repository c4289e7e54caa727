"""Client commands for a running daemon: submit, status, cancel, signal, logs.

URL and token come from --url/--token, else $MASTERMIND_URL/$MASTERMIND_TOKEN, else
http://127.0.0.1:8931 and the token the daemon generated in the state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mastermind.cli.inputs_file import read_inputs_file
from mastermind.cli.progress import Progress
from mastermind.errors import InvalidInputData, MastermindError
from mastermind.language.expressions import data_problem
from mastermind.store.events import RUN_FINAL, Event


def add_client_commands(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default=os.environ.get("MASTERMIND_URL"))
        parser.add_argument("--token", default=os.environ.get("MASTERMIND_TOKEN"))

    submit = sub.add_parser("submit", help="submit a run to a daemon")
    submit.add_argument("workflow", help="the workflow's name")
    submit.add_argument("-i", "--input", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--inputs", metavar="FILE", help="a JSON file of inputs")
    submit.add_argument("--wait", action="store_true", help="follow the run, print its outputs")
    common(submit)
    submit.set_defaults(handler=cmd_submit)
    status = sub.add_parser("status", help="a run's status and steps, from a daemon")
    status.add_argument("run_id")
    common(status)
    status.set_defaults(handler=cmd_status)
    cancel = sub.add_parser("cancel", help="cancel a run on a daemon")
    cancel.add_argument("run_id")
    common(cancel)
    cancel.set_defaults(handler=cmd_cancel)
    signal = sub.add_parser("signal", help="send a signal to a run on a daemon")
    signal.add_argument("run_id")
    signal.add_argument("name")
    signal.add_argument("payload", nargs="?", help="JSON (or plain text)")
    common(signal)
    signal.set_defaults(handler=cmd_signal)
    logs = sub.add_parser("logs", help="a run's events from a daemon")
    logs.add_argument("run_id")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following until it ends")
    common(logs)
    logs.set_defaults(handler=cmd_logs)


class Client:
    """A small synchronous client of the HTTP API."""

    def __init__(self, url: str | None, token: str | None) -> None:
        from mastermind.service.config import DEFAULT_PORT  # only client commands need it

        self.url = (url or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")
        self.token = token or _saved_token()

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.request  # only the client commands pay for http.client and ssl

        data = json.dumps(body, allow_nan=False).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        return request

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self._request(method, path, body), timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = error.reason
            raise MastermindError(f"{error.code}: {message}") from None
        except urllib.error.URLError as error:
            raise MastermindError(f"cannot reach {self.url}: {error.reason}") from None

    def events(self, run_id: str, *, follow: bool = True) -> Iterator[Event]:
        """The run's events (Server-Sent Events): until it ends, or those stored so far."""
        import urllib.error
        import urllib.request

        suffix = "" if follow else "?follow=0"
        request = self._request("GET", f"/api/v1/runs/{run_id}/events{suffix}")
        try:
            with urllib.request.urlopen(request, timeout=3600) as stream:
                for raw in stream:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("data: "):
                        yield Event.from_dict(json.loads(line[6:]))
        except urllib.error.HTTPError as error:
            raise MastermindError(f"{error.code}: {error.reason}") from None
        except urllib.error.URLError as error:
            raise MastermindError(f"cannot reach {self.url}: {error.reason}") from None


def _saved_token() -> str | None:
    from mastermind.store.state_dir import default_state_dir

    path = Path(default_state_dir()) / "api-token"
    try:
        return path.read_text().strip()
    except OSError:
        return None


def json_text(value: Any) -> str:
    """Indented JSON, and only JSON: a NaN or infinity is an error, never `Infinity`."""
    try:
        return json.dumps(value, indent=2, allow_nan=False, default=str)
    except ValueError:
        raise MastermindError("the outputs hold a number JSON cannot express") from None


def _value(text: str, what: str) -> Any:
    """`text` as JSON, else as a string; `what` names it in the error for absurd nesting."""
    try:
        return json.loads(text)
    except RecursionError:  # json's C scanner recurses: deeper than the stores keep anyway
        raise InvalidInputData(f"{what}: nested too deeply to read") from None
    except ValueError:
        return text


def cmd_submit(args: argparse.Namespace) -> int:
    client = Client(args.url, args.token)
    inputs: dict[str, Any] = {}
    if args.inputs:
        inputs.update(read_inputs_file(args.inputs))
    for assignment in args.input:
        key, sep, text = assignment.partition("=")
        if not sep:
            raise MastermindError(f"expected key=value, found {assignment!r}")
        inputs[key] = _value(text, f"input {key!r}")
    for name, value in inputs.items():
        problem = data_problem(value, name)
        if problem is not None:
            raise InvalidInputData(f"input {name!r}: {problem}")
    run_id = client.call("POST", "/api/v1/runs", {"workflow": args.workflow, "inputs": inputs})[
        "run_id"
    ]
    if not args.wait:
        print(run_id)
        return 0
    print(f"run {run_id}", file=sys.stderr)
    progress = Progress(sys.stderr, run_id, 0)
    final: Event | None = None
    for event in client.events(run_id):
        progress(event)
        if event.step_id is None and event.status in RUN_FINAL:
            final = event
    progress.close()
    if final is None:
        raise MastermindError("the event stream ended before the run did")
    print(json_text(final.outputs))
    return {"succeeded": 0, "cancelled": 130}.get(final.status, 1)


def cmd_status(args: argparse.Namespace) -> int:
    body = Client(args.url, args.token).call("GET", f"/api/v1/runs/{args.run_id}")
    print(json.dumps(body, indent=2))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    Client(args.url, args.token).call("POST", f"/api/v1/runs/{args.run_id}/cancel")
    print(f"cancelling {args.run_id}")
    return 0


def cmd_signal(args: argparse.Namespace) -> int:
    payload = _value(args.payload, "the payload") if args.payload is not None else None
    Client(args.url, args.token).call(
        "POST", f"/api/v1/runs/{args.run_id}/signals/{args.name}", {"payload": payload}
    )
    print(f"sent {args.name} to {args.run_id}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    client = Client(args.url, args.token)
    for event in client.events(args.run_id, follow=args.follow):
        print(json.dumps(event.to_dict()), flush=True)
    return 0
