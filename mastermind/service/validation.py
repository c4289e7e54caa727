"""Checking posted workflow text without stalling the event loop.

A thread is not enough for large texts: loading 1 MiB holds the GIL in long C calls and
leaves the cyclic collector a large heap to scan, each of which stops the loop for hundreds of
milliseconds. So texts above IN_PROCESS_LIMIT are checked in a separate Python process
(`python -m mastermind.service.validation`, text on stdin, verdict as JSON on stdout); small
ones in a thread, where the pauses are a few milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mastermind.errors import MastermindError, WorkflowError
from mastermind.language.loader import load_text

if TYPE_CHECKING:
    from mastermind.language.catalog import AgentCatalog

IN_PROCESS_LIMIT = 64 * 1024  # bytes: above this, a separate process does the work
TIMEOUT = 60.0  # seconds a separate check may take
FILE = "request.yaml"


@dataclass(slots=True)
class Verdict:
    """The outcome of checking one text."""

    valid: bool
    name: str = ""
    steps: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)


def check(text: bytes, registry: AgentCatalog) -> Verdict:
    """Load the text and say what is wrong with it (CPU work: run it off the loop)."""
    try:
        definition = load_text(text, FILE, registry)
    except WorkflowError as exc:
        return Verdict(False, problems=[p.as_dict() for p in exc.problems])
    return Verdict(True, definition.name, len(definition.steps))


async def validate(text: bytes, registry: AgentCatalog) -> Verdict:
    """Check the text off the event loop: in a thread if small, else in another process."""
    if len(text) <= IN_PROCESS_LIMIT:
        return await asyncio.to_thread(check, text, registry)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mastermind.service.validation",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await process.communicate(text)
    except BaseException:  # timed out or cancelled: the check must not outlive the request
        if process.returncode is None:
            process.kill()
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MastermindError(f"the workflow could not be checked: {detail[0]}")
    data = json.loads(out)
    return Verdict(data["valid"], data["name"], data["steps"], data["problems"])


def main() -> None:
    """`python -m mastermind.service.validation`: check stdin, print the verdict as JSON."""
    from mastermind.engine.agent import AgentRegistry

    verdict = check(sys.stdin.buffer.read(), AgentRegistry())
    sys.stdout.write(json.dumps(asdict(verdict)))


if __name__ == "__main__":
    main()
