"""Supervised chores: a chore that raises is logged, counted and restarted; only cancel ends it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mastermind.service.chores import Chores


async def test_a_chore_that_raises_is_restarted_until_it_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    restarts: list[str] = []
    calls = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RuntimeError(f"failure {calls}")
        done.set()

    chores = Chores(restarts.append, backoff=0.001, max_backoff=0.004)
    with caplog.at_level(logging.ERROR, logger="mastermind.service.chores"):
        chores.start("flaky", flaky)
        async with asyncio.timeout(10):
            await done.wait()
    await chores.aclose()
    assert restarts == ["flaky"] * 3 and calls == 4
    failures = [r for r in caplog.records if "background chore flaky failed" in r.getMessage()]
    assert len(failures) == 3 and all(r.exc_info for r in failures)  # with the traceback


async def test_cancelling_ends_a_chore_and_is_not_a_restart() -> None:
    restarts: list[str] = []
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    chores = Chores(restarts.append)
    chores.start("forever", forever)
    async with asyncio.timeout(10):
        await started.wait()
    assert chores.running == ["forever"]
    await chores.aclose()
    assert restarts == [] and chores.running == []
