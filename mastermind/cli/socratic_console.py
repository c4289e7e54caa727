"""`mastermind socratic`: keep premises, challenge them, draw and check conclusions.

Works at a terminal (with a prompt) and with piped input (one command per line).
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from mastermind.reasoning.engine import evaluate
from mastermind.reasoning.parse import ACCEPTED_FORMS, PremiseError, parse_premise

HELP = (
    """\
commands:
  add PREMISE          add a premise (controlled English or propositional syntax)
  premises             list the premises
  remove N             drop premise N
  conclude [CLAIM]     with a claim: does it follow? without: what follows?
  challenge N          which conclusions stop following without premise N?
  truth [CLAIM]        the truth table (propositional premises, up to 12 variables)
  clear                drop every premise
  help                 this text
  exit                 leave (also: quit, Ctrl-D)
forms: """
    + ACCEPTED_FORMS
)


class Console:
    """The seed's premise / challenge / conclude loop, made exact."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.premises: list[str] = []

    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def handle(self, line: str) -> bool:
        """Run one command; False means exit."""
        command, _, rest = line.strip().partition(" ")
        command, rest = command.lower(), rest.strip()
        if not command:
            return True
        if command in ("exit", "quit"):
            return False
        handler = getattr(self, f"cmd_{command}", None)
        if handler is None:
            self.say(f"unknown command {command!r}; type help")
        else:
            handler(rest)
        return True

    def cmd_help(self, rest: str) -> None:
        self.say(HELP)

    def cmd_add(self, rest: str) -> None:
        try:
            formula = parse_premise(rest)
        except PremiseError as exc:
            self.say(f"rejected: {exc.why}. accepted forms: {ACCEPTED_FORMS}")
            return
        self.premises.append(rest)
        self.say(f"({len(self.premises)}) {formula}")

    def cmd_premises(self, rest: str) -> None:
        if not self.premises:
            self.say("no premises yet; add one with: add All humans are mortal.")
        for number, text in enumerate(self.premises, 1):
            self.say(f"({number}) {text}")

    def cmd_clear(self, rest: str) -> None:
        self.premises.clear()
        self.say("premises cleared")

    def _number(self, rest: str) -> int | None:
        if not rest.isdigit() or not 1 <= int(rest) <= len(self.premises):
            self.say(f"expected a premise number from 1 to {len(self.premises)}")
            return None
        return int(rest)

    def cmd_remove(self, rest: str) -> None:
        number = self._number(rest)
        if number is not None:
            self.say(f"removed ({number}) {self.premises.pop(number - 1)}")

    def cmd_conclude(self, rest: str) -> None:
        result = evaluate({"premises": self.premises, "conclusion": rest or None})
        if result["rejected"]:
            self.say(f"rejected: {result['rejected'][0]['reason']}")
            return
        if not result["consistent"]:
            self.say("the premises are inconsistent")
        if rest:
            verdict = "VALID: it follows" if result["valid"] else "INVALID: it does not follow"
            self.say(f"{verdict}: {result['conclusion']}")
        else:
            derived = result["derived"]
            self.say("follows: " + ("; ".join(derived) if derived else "nothing new"))
        for line in result.get("explanation", []):
            self.say(f"  {line}")
        if result.get("counterexample"):
            self.say(f"  counter-example: {json.dumps(result['counterexample'])}")

    def cmd_challenge(self, rest: str) -> None:
        number = self._number(rest)
        if number is None:
            return
        result = evaluate(
            {"premises": self.premises, "operation": "challenge", "remove": number - 1}
        )
        self.say(f"without: {'; '.join(result['removed'])}")
        lost = result["no_longer_follow"]
        self.say("no longer follows: " + ("; ".join(lost) if lost else "nothing"))
        kept = result["still_follow"]
        self.say("still follows: " + ("; ".join(kept) if kept else "nothing"))

    def cmd_truth(self, rest: str) -> None:
        try:
            result = evaluate(
                {"premises": self.premises, "conclusion": rest or None, "operation": "truth_table"}
            )
        except ValueError as exc:
            self.say(f"no truth table: {exc}")
            return
        names = result["variables"]
        head = [*names, *(f"({i})" for i in range(1, len(self.premises) + 1))]
        if rest:
            head.append("claim")
        self.say(" ".join(f"{h:>5}" for h in head))
        for row in result["rows"]:
            cells = [row["values"][n] for n in names] + row["premises"]
            if rest:
                cells.append(row["conclusion"])
            mark = "  <- all premises true" if all(row["premises"]) else ""
            self.say(" ".join(f"{'T' if c else 'F':>5}" for c in cells) + mark)


def run_console(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """The read-eval-print loop; exit code 0."""
    console = Console(stdout)
    interactive = stdin.isatty()
    if interactive:
        console.say("Socratic console. Type help for commands, exit to leave.")
    while True:
        if interactive:
            stdout.write("socratic> ")
            stdout.flush()
        line = stdin.readline()
        if not line or not console.handle(line):
            return 0
