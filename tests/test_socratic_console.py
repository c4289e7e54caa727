"""`mastermind socratic` with piped input, as a real subprocess (and a real chat server)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.servers import chat_server, serve


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MASTERMIND_LLM_API_KEY", None)
    return env


def test_console_session_from_a_pipe() -> None:
    script = "\n".join(
        [
            "add All humans are mortal.",
            "add Socrates is a human.",
            "add All humans mortal",
            "add Most humans are bald.",
            "premises",
            "conclude Socrates is mortal.",
            "conclude",
            "frobnicate",
            "exit",
            "add never reached",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-m", "mastermind", "socratic"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "(1) read as: all humans are mortal" in out
    assert "(2) read as: Socrates is a human" in out
    assert "rejected (column 12): 'mortal' looks like an adjective or a noun" in out
    assert "rejected (column 1): 'most': only the quantifiers" in out
    assert "nearest accepted forms: All S are P." in out
    assert "(2) Socrates is a human.  [read as: Socrates is a human]" in out
    assert "(3)" not in out  # refused sentences are not kept
    assert "VALID: it follows: Socrates is mortal" in out
    assert "no model configured" in out
    assert "follows: some humans are mortal; Socrates is mortal" in out
    assert "unknown command 'frobnicate'" in out
    assert "never reached" not in out
    assert "socratic>" not in out  # no prompt when not a terminal


async def test_console_with_a_model_and_a_premises_file(tmp_path: Path) -> None:
    premises = tmp_path / "premises.json"
    premises.write_text(json.dumps({"premises": ["All men are mortal.", "Socrates is a man."]}))
    app, seen = chat_server(
        [
            "1. **Therefore, Socrates is mortal.**\nAll men are mortal, and he is one.",
            "Plato is mortal.",
        ]
    )
    script = "\n".join(
        [
            "premises",
            "set_tokens 40",
            "conclude",
            "conclude",
            "add Socrates is a philosopher.",
            "add If Socrates is mortal then Socrates is finite.",
            "add All men are mortal.",
            "challenge 1",
            "reading traditional",
            "conclude Some men are mortal.",
            "exit",
        ]
    )
    async with serve(app) as base:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mastermind",
            "socratic",
            "--premises",
            str(premises),
            "--base-url",
            f"{base}/v1",
            "--model",
            "tiny",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**_env(), "MASTERMIND_LLM_API_KEY": "sk-console"},
        )
        async with asyncio.timeout(60):
            stdout, stderr = await process.communicate(script.encode())
    out = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert f"loaded 2 premises from {premises}" in out  # the session resumed
    assert "the model may use up to 40 tokens" in out
    # the first proposal is read without its list marker, bold and "Therefore,"
    assert "model proposes: Socrates is mortal.\nVALID: it follows: Socrates is mortal" in out
    assert "model proposes: Plato is mortal.\nINVALID: it does not follow: Plato is mortal" in out
    assert out.count("\naccepted\n") == 1 and out.count("\nnot accepted\n") == 1
    assert len(seen) == 2
    request = seen[0]["body"]
    assert request["model"] == "tiny" and request["max_tokens"] == 40
    assert "1. All men are mortal.\n2. Socrates is a man." in request["messages"][-1]["content"]
    assert seen[0]["auth"] == "Bearer sk-console"
    # challenge 1 drops premise 1 and the later copy of it; what depended on it is named
    assert "removed: All men are mortal.; All men are mortal." in out
    assert "no longer follows:" in out and "Socrates is finite" in out
    saved = json.loads(premises.read_text())["premises"]
    assert saved == [
        "Socrates is a man.",
        "Socrates is a philosopher.",
        "If Socrates is mortal then Socrates is finite.",
    ]
    assert "reading: traditional" in out
    assert "INVALID: it does not follow: some men are mortal" in out  # no premise about men now


def _console(args: list[str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mastermind", "socratic", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )


def test_a_premises_file_that_cannot_be_loaded_is_never_overwritten(tmp_path: Path) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text("[1, 2, 3] my notes\n")
    done = _console(["--premises", str(notes)], "add p\nexit\n")
    assert done.returncode == 2
    assert "cannot load" in done.stdout and "would be overwritten" in done.stdout
    assert "read as" not in done.stdout  # no command ran
    assert notes.read_text() == "[1, 2, 3] my notes\n"


def test_skipped_premises_are_not_dropped_from_the_file(tmp_path: Path) -> None:
    kept = tmp_path / "p.json"
    original = json.dumps({"premises": ["All men are mortal.", "Most men are bald."]})
    kept.write_text(original)
    done = _console(["--premises", str(kept)], "add Socrates is a man.\npremises\nexit\n")
    assert done.returncode == 0, done.stderr
    assert "skipped 'Most men are bald.'" in done.stdout
    assert "not saving to" in done.stdout
    assert "(2) Socrates is a man." in done.stdout
    assert kept.read_text() == original


def test_long_input_is_not_echoed_and_an_empty_truth_table_says_why(tmp_path: Path) -> None:
    from io import StringIO

    from mastermind.cli.socratic_console import SHOWN, Console

    out = StringIO()
    console = Console(out)
    pasted = "x" * 100_000
    for line in [pasted, f"load {tmp_path / ('y' * 5_000)}", "truth", "truth p"]:
        console.handle(line)
    text = out.getvalue()
    assert len(text) < 1_000, text[:300]
    assert f"unknown command {'x' * SHOWN!r}... (100,000 characters); type help" in text
    assert "cannot load" in text and "(5,0" in text
    assert text.count("no premises yet: a truth table shows each premise's value") == 2
    console.handle("add p -> q")
    console.handle("truth")
    table = out.getvalue()[len(text) :]
    assert table.splitlines()[1].split() == ["p", "q", "(1)"]
    assert table.count("<- all premises true") == 3


async def test_a_skipped_premise_fails_the_models_answer_and_a_bare_save(tmp_path: Path) -> None:
    from io import StringIO

    from mastermind.cli.socratic_console import Console, Model

    path = tmp_path / "p.json"
    original = json.dumps(
        {"premises": ["All men are mortal.", "Socrates is a man.", "Most men are bald."]}
    )
    path.write_text(original)
    app, _ = chat_server(["Socrates is mortal."])
    out = StringIO()
    async with serve(app) as base:
        console = Console(out, model=Model(f"{base}/v1", "tiny"), premises_file=path)
        await asyncio.to_thread(console.load, path)
        await asyncio.to_thread(console.handle, "conclude")
    console.handle("save")
    text = out.getvalue()
    # the llm agent fails closed when a premise is not read: so does the console
    assert "VALID: it follows: Socrates is mortal" in text
    assert "not accepted: the premise 'Most men are bald.' was not read" in text
    assert "\naccepted\n" not in text
    assert "not saving to" in text and "1 skipped premise(s)" in text
    assert path.read_text() == original
    console.handle("save --force")
    assert json.loads(path.read_text())["premises"] == ["All men are mortal.", "Socrates is a man."]


def test_the_truth_table_keeps_long_names_apart() -> None:
    from io import StringIO

    from mastermind.cli.socratic_console import Console

    out = StringIO()
    console = Console(out)
    console.handle("add If it rains then the ground is wet.")
    console.handle("truth")
    header = out.getvalue().splitlines()[1]
    assert "it rains  the ground is wet" in header or "the ground is wet  it rains" in header


def test_it_after_a_premise_about_a_thing_is_refused_at_add() -> None:
    from io import StringIO

    from mastermind.cli.socratic_console import Console

    out = StringIO()
    console = Console(out)
    for line in ["add The soup is on the stove.", "add It is hot.", "add It rains."]:
        console.handle(line)
    text = out.getvalue()
    assert "rejected: 'it is hot' beside a sentence about the soup may mean that thing" in text
    assert "(2) read as: it rains" in text and console.premises[1] == "It rains."


def test_a_premise_in_another_tense_is_refused_at_add() -> None:
    from io import StringIO

    from mastermind.cli.socratic_console import Console

    out = StringIO()
    console = Console(out)
    for line in ["add All puppies are young.", "add Fido was a puppy.", "add p -> q"]:
        console.handle(line)
    text = out.getvalue()
    assert "rejected: it is in the past tense beside premises in the present" in text
    assert console.premises == ["All puppies are young.", "p -> q"]
