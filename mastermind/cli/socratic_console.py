"""`mastermind socratic`: keep premises, challenge them, draw and check conclusions.

The commands of the original SocraticReasoning program, made exact: premises are read by the
grammar (each shown as read), `conclude` asks the configured OpenAI-compatible model for a
conclusion and shows it with the solver's verdict, `challenge` drops a premise (and premises
equivalent to it), `set_tokens` bounds the model's answer, and with `--premises FILE` the
premises are loaded from and saved to a JSON file, so a session can be resumed.

Works at a terminal (with a prompt) and with piped input (one command per line).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mastermind.reasoning.engine import READINGS, claim_of, evaluate, it_beside_things
from mastermind.reasoning.parse import PremiseError, is_propositional, parse_premise, tense_of

HELP = """\
commands:
  add PREMISE          add a premise (controlled English or propositional syntax)
  premises             list the premises, as written and as read
  remove N             drop premise N
  conclude             ask the model for a conclusion and check it (without a model: derive)
  conclude CLAIM       does the claim follow from the premises?
  derive               what follows from the premises?
  challenge N          drop premise N (and premises equivalent to it): what no longer follows?
  truth [CLAIM]        the truth table (propositional premises, up to 12 variables)
  reading [NAME]       boolean (default) or traditional (every term is non-empty)
  set_tokens N         most tokens the model may use for a conclusion
  save [FILE] / load FILE   premises to / from a JSON file (default: the --premises file;
                       'save --force' there drops premises that were skipped when loading)
  clear                drop every premise
  help                 this text
  exit                 leave (also: quit, Ctrl-D)
Sentences: see docs/agents.md (All S are P. / Socrates is a man. / If it rains, the ground is
wet. / It rains only if there are clouds. / p -> q ...). A sentence outside the grammar is
refused with the reason and the nearest accepted forms."""

SYSTEM = (
    "You are a careful logician. Given numbered premises, state one conclusion that follows "
    "from them. Answer with that conclusion only, as one plain English sentence on the first "
    "line, in the same words the premises use."
)


@dataclass(slots=True)
class Model:
    """An OpenAI-compatible chat-completions endpoint."""

    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 60.0


class Console:
    """The premise / challenge / conclude loop."""

    def __init__(
        self, out: TextIO, *, model: Model | None = None, premises_file: Path | None = None
    ) -> None:
        self.out = out
        self.model = model
        self.premises_file = premises_file
        self.autosave = premises_file is not None
        self.premises: list[str] = []
        self.skipped: list[str] = []  # premises in the loaded file that were not read
        self.reading = "boolean"
        self.max_tokens = 256

    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def handle(self, line: str) -> bool:
        """Run one command; False means exit."""
        command, _, rest = line.strip().partition(" ")
        command, rest = command.lower(), rest.strip()
        if not command or command.startswith("#"):
            return True
        if command in ("exit", "quit"):
            return False
        handler = getattr(self, f"cmd_{command}", None)
        if handler is None:
            self.say(f"unknown command {shown(command)}; type help")
        else:
            handler(rest)
        return True

    # ------------------------------------------------------------------ premises

    def cmd_help(self, rest: str) -> None:
        self.say(HELP)

    def cmd_add(self, rest: str) -> None:
        try:
            formula = parse_premise(rest)
        except PremiseError as exc:
            where = f" (column {exc.column})" if exc.column else ""
            self.say(f"rejected{where}: {exc.why}")
            self.say("  nearest accepted forms: " + "; ".join(exc.nearest))
            return
        _, doubtful = it_beside_things(
            [(rest, formula)], [parse_premise(text) for text in self.premises]
        )
        if doubtful:  # 'It is hot.' after 'The soup is on the stove.'
            self.say(f"rejected: {doubtful[0]['reason'].partition(': ')[2]}")
            return
        tenses = {tense_of(t) for t in self.premises if not is_propositional(t)}
        if tenses and not is_propositional(rest) and tense_of(rest) not in tenses:
            self.say(  # 'Fido was a puppy.' after 'All puppies are young.'
                f"rejected: it is in the {tense_of(rest)} tense beside premises in the "
                f"{' and '.join(sorted(tenses))}; tense is not read (was and will be are read "
                "as is): write every premise in one tense"
            )
            return
        self.premises.append(rest)
        self.say(f"({len(self.premises)}) read as: {formula}")
        self._autosave()

    def cmd_premises(self, rest: str) -> None:
        if not self.premises:
            self.say("no premises yet; add one with: add All humans are mortal.")
        for number, text in enumerate(self.premises, 1):
            self.say(f"({number}) {text}  [read as: {parse_premise(text)}]")

    def cmd_clear(self, rest: str) -> None:
        self.premises.clear()
        self.skipped.clear()
        self.say("premises cleared")
        self._autosave()

    def _number(self, rest: str) -> int | None:
        if not rest.isdigit() or not 1 <= int(rest) <= len(self.premises):
            self.say(f"expected a premise number from 1 to {len(self.premises)}")
            return None
        return int(rest)

    def cmd_remove(self, rest: str) -> None:
        number = self._number(rest)
        if number is not None:
            self.say(f"removed ({number}) {self.premises.pop(number - 1)}")
            self._autosave()

    def cmd_reading(self, rest: str) -> None:
        if rest:
            if rest.lower() not in READINGS:
                self.say(f"readings: {', '.join(READINGS)}")
                return
            self.reading = rest.lower()
        self.say(f"reading: {self.reading}")

    def cmd_set_tokens(self, rest: str) -> None:
        if not rest.isdigit() or not 1 <= int(rest) <= 100_000:
            self.say("expected a number of tokens from 1 to 100000")
            return
        self.max_tokens = int(rest)
        self.say(f"the model may use up to {self.max_tokens} tokens")

    # ------------------------------------------------------------------ reasoning

    def _evaluate(self, request: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return evaluate({"premises": self.premises, "reading": self.reading, **request})
        except ValueError as exc:
            self.say(f"cannot: {exc}")
            return None

    def _verdict(self, result: dict[str, Any]) -> None:
        if result["rejected"]:
            self.say(f"rejected: {result['rejected'][0]['reason']}")
            return
        if not result["consistent"]:
            self.say("the premises are inconsistent")
        verdict = "VALID: it follows" if result["valid"] else "INVALID: it does not follow"
        self.say(f"{verdict}: {result['conclusion']}")
        if result.get("form"):
            self.say(f"  form: {result['form']}")
        for line in result.get("explanation", []):
            self.say(f"  {line}")
        if result.get("counterexample"):
            self.say(f"  counter-example: {json.dumps(result['counterexample'])}")

    def cmd_conclude(self, rest: str) -> None:
        if rest:
            result = self._evaluate({"conclusion": rest})
            if result is not None:
                self._verdict(result)
            return
        if self.model is None:
            self.say("no model configured (--base-url and --model, or --config): deriving")
            self.cmd_derive("")
            return
        if not self.premises:
            self.say("no premises yet")
            return
        try:
            answer = asyncio.run(propose(self.model, self.premises, self.max_tokens))
        except ModelError as exc:
            self.say(f"the model did not answer: {exc}")
            return
        claim = claim_of(answer)
        self.say(f"model proposes: {claim or '(nothing)'}")
        if not claim:
            return
        result = self._evaluate({"conclusion": claim})
        if result is not None:
            self._verdict(result)
            accepted = result["valid"] is True and result["consistent"] and not result["rejected"]
            if accepted and self.skipped:
                # as the llm agent does: an answer checked without every premise is not accepted
                self.say(
                    f"not accepted: the premise {shown(self.skipped[0])} was not read (skipped "
                    "when loading); fix it in the file or 'clear'"
                )
                return
            self.say("accepted" if accepted else "not accepted")

    def cmd_derive(self, rest: str) -> None:
        result = self._evaluate({"operation": "derive"})
        if result is None:
            return
        if not result["consistent"]:
            self.say("the premises are inconsistent")
        derived = result["derived"]
        self.say("follows: " + ("; ".join(derived) if derived else "nothing new"))
        for line in result.get("explanation", []):
            self.say(f"  {line}")

    def cmd_challenge(self, rest: str) -> None:
        number = self._number(rest)
        if number is None:
            return
        result = self._evaluate({"operation": "challenge", "remove": number - 1})
        if result is None:
            return
        readings = set(result["removed"])  # the premise, and premises equivalent to it
        removed = [
            text
            for i, text in enumerate(self.premises)
            if i == number - 1 or str(parse_premise(text)) in readings
        ]
        self.premises = [text for text in self.premises if text not in removed]
        self.say(f"removed: {'; '.join(removed)}")
        lost = result["no_longer_follow"]
        self.say("no longer follows: " + ("; ".join(lost) if lost else "nothing"))
        kept = result["still_follow"]
        self.say("still follows: " + ("; ".join(kept) if kept else "nothing"))
        self._autosave()

    def cmd_truth(self, rest: str) -> None:
        if not self.premises:
            self.say(
                "no premises yet: a truth table shows each premise's value (add one with: "
                "add If it rains, the ground is wet.)"
            )
            return
        result = self._evaluate({"conclusion": rest or None, "operation": "truth_table"})
        if result is None:
            return
        names = result["variables"]
        head = [*names, *(f"({i})" for i in range(1, len(self.premises) + 1))]
        if rest:
            head.append("claim")
        # each column as wide as its name, two spaces apart ('it rains  the ground is wet')
        widths = [max(len(h), 5) for h in head]
        self.say("  ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
        for row in result["rows"]:
            cells = [row["values"][n] for n in names] + row["premises"]
            if rest:
                cells.append(row["conclusion"])
            mark = "  <- all premises true" if all(row["premises"]) else ""
            self.say(
                "  ".join(f"{'T' if c else 'F':>{w}}" for c, w in zip(cells, widths, strict=True))
                + mark
            )

    # ------------------------------------------------------------------ files

    def cmd_save(self, rest: str) -> None:
        force = rest == "--force" or rest.endswith(" --force")
        rest = rest.removesuffix("--force").strip()
        path = Path(rest) if rest else self.premises_file
        if path is None:
            self.say("save where? save FILE (or start with --premises FILE)")
            return
        if (
            self.skipped
            and not force
            and self.premises_file is not None
            and (path.resolve() == self.premises_file.resolve())
        ):
            self.say(
                f"not saving to {shown(str(path))}: it would lose the {len(self.skipped)} "
                "skipped premise(s); save ANOTHER_FILE, or 'save --force' to drop them"
            )
            return
        try:
            save_premises(path, self.premises)
        except OSError as exc:
            self.say(f"cannot save to {shown(str(path))}: {_reason(exc)}")
            return
        self.say(f"saved {len(self.premises)} premises to {path}")

    def cmd_load(self, rest: str) -> None:
        if not rest:
            self.say("load FILE")
            return
        self.load(Path(rest))

    def load(self, path: Path) -> list[str] | None:
        """Load premises from `path`; the sentences skipped as unreadable, or None if the file
        could not be loaded at all."""
        try:
            texts = load_premises(path)
        except (OSError, ValueError) as exc:
            self.say(f"cannot load {shown(str(path))}: {_reason(exc)}")
            return None
        loaded = []
        skipped = []
        for text in texts:
            try:
                parse_premise(text)
            except PremiseError as exc:
                self.say(f"skipped {shown(text)}: {exc.why}")
                skipped.append(text)
                continue
            loaded.append(text)
        self.premises = loaded
        self.skipped = skipped
        self.say(f"loaded {len(loaded)} premises from {path}")
        return skipped

    def _autosave(self) -> None:
        if self.autosave and self.premises_file is not None:
            try:
                save_premises(self.premises_file, self.premises)
            except OSError as exc:
                self.say(f"cannot save to {self.premises_file}: {exc}")


SHOWN = 60  # characters of the user's text echoed back in a message


def shown(text: str) -> str:
    """The text, quoted, cut to SHOWN characters (a pasted 100 KB line is not echoed back)."""
    if len(text) <= SHOWN:
        return repr(text)
    return f"{text[:SHOWN]!r}... ({len(text):,} characters)"


def _reason(exc: Exception) -> str:
    """Why a file could not be used, without repeating its (possibly very long) name."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."


def save_premises(path: Path, premises: list[str]) -> None:
    """Write `{"premises": [...]}` atomically (a temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({"premises": premises}, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def load_premises(path: Path) -> list[str]:
    """`{"premises": [...]}` or a plain list of sentences."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("premises")
    if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
        raise ValueError('expected {"premises": ["...", ...]}')
    return list(data)


class ModelError(Exception):
    """The model endpoint failed or answered without a message."""


async def propose(model: Model, premises: list[str], max_tokens: int) -> str:
    """Ask the model what follows from the premises; its answer's text."""
    import aiohttp

    numbered = "\n".join(f"{i}. {p}" for i, p in enumerate(premises, 1))
    body = {
        "model": model.model,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Premises:\n{numbered}\nWhat follows?"},
        ],
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    headers = {"Authorization": f"Bearer {model.api_key}"} if model.api_key else {}
    url = model.base_url.rstrip("/") + "/chat/completions"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=model.timeout)) as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            if response.status != 200:
                raise ModelError(f"HTTP {response.status}: {(await response.text())[:200]}")
            reply = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ModelError(f"{type(exc).__name__}: {exc}") from None
    try:
        return str(reply["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        raise ModelError("the reply has no choices[0].message.content") from None


def run_console(
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    model: Model | None = None,
    premises_file: Path | None = None,
) -> int:
    """The read-eval-print loop; exit code 0 (2 if the premises file exists but cannot be
    loaded: saving to it would destroy what it holds)."""
    console = Console(stdout, model=model, premises_file=premises_file)
    if premises_file is not None and premises_file.exists():
        skipped = console.load(premises_file)
        if skipped is None:
            console.say(f"not starting: {premises_file} would be overwritten; name another file")
            return 2
        if skipped:
            # saving after every change would drop them from the file for good
            console.autosave = False
            console.say(
                f"not saving to {premises_file} after each change: it would lose the "
                "skipped premises (save FILE, or fix them there)"
            )
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
