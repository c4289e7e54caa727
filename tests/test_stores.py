"""One suite, every store: what the coordinator relies on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mastermind.errors import EventOutOfOrder, OutputRejected, RunExists
from mastermind.store.base import RunRecord, Store, fold_texts
from mastermind.store.events import Event
from mastermind.store.memory import MemoryStore
from mastermind.store.postgres import PostgresStore
from mastermind.store.sqlite import SqliteStore
from tests.pg import PG_DSN, drop_schema

StoreFactory = Callable[[Path], Store]
FACTORIES: dict[str, StoreFactory] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": lambda path: SqliteStore(path),
    "postgres": lambda path: PostgresStore(PG_DSN, schema=f"t_{path.name[-12:]}".replace("-", "_")),
}


def record(run_id: str, workflow: str = "w", created: float = 1.0) -> RunRecord:
    return RunRecord(
        run_id, workflow, "d" * 64, "name: w\n", "/w.yaml", {"x": 1}, created_at=created
    )


def event(run_id: str, seq: int, status: str, step: str | None = None, **fields: object) -> Event:
    return Event(run_id=run_id, seq=seq, at=float(seq), status=status, step_id=step, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=sorted(FACTORIES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    schema_path = tmp_path / uuid.uuid4().hex
    yield lambda: FACTORIES[request.param](schema_path)
    if request.param == "postgres":
        drop_schema(f"t_{schema_path.name[-12:]}")


async def test_runs_and_events_round_trip(make_store: Callable[[], Store]) -> None:
    store = make_store()
    await store.open()
    try:
        await store.create_run(record("r1", created=1.0))
        await store.create_run(record("r2", workflow="other", created=2.0))
        assert await store.claim_run("r1")
        await store.append(event("r1", 1, "running"))
        await store.append(event("r1", 2, "queued", "a"))
        await store.append(event("r1", 3, "running", "a", attempt=1))
        await store.append(event("r1", 4, "retrying", "a", attempt=1, error="boom", delay=1.0))
        await store.append(event("r1", 5, "running", "a", attempt=2))
        await store.append(event("r1", 6, "succeeded", "a", attempt=2, outputs={"v": [1, 2]}))
        await store.append(event("r1", 7, "succeeded", outputs={"out": 1}))
        run = await store.get_run("r1")
        assert run is not None
        assert (run.status, run.outputs, run.started_at, run.finished_at) == (
            "succeeded",
            {"out": 1},
            1.0,
            7.0,
        )
        assert run.inputs == {"x": 1} and run.last_seq == 7
        steps = await store.steps("r1")
        assert len(steps) == 1
        step = steps[0]
        assert (step.status, step.attempt, step.outputs) == ("succeeded", 2, {"v": [1, 2]})
        assert [a["status"] for a in step.attempts] == ["failed", "succeeded"]
        assert step.attempts[0]["error"] == "boom"
        assert fold_texts(await store.event_log("r1")) == steps  # GET /runs/{id} folds this
        events = await store.events("r1", after=2, limit=3)
        assert [e.seq for e in events] == [3, 4, 5]
        assert events[1].error == "boom" and events[1].delay == 1.0
        assert [r.run_id for r in await store.list_runs()] == ["r2", "r1"]
        assert [r.run_id for r in await store.list_runs(workflow="other")] == ["r2"]
        assert [r.run_id for r in await store.list_runs(status="succeeded")] == ["r1"]
        assert [r.run_id for r in await store.list_runs(limit=1, offset=1)] == ["r1"]
        assert [r.run_id for r in await store.unfinished_runs()] == ["r2"]
        assert await store.get_run("nope") is None
    finally:
        await store.close()


async def test_sqlite_keeps_everything_across_reopen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    await store.create_run(record("r1"))
    await store.append(event("r1", 1, "running"))
    await store.append(event("r1", 2, "succeeded", "a", attempt=1, outputs=[1]))
    await store.close()
    again = SqliteStore(tmp_path)
    await again.open()
    try:
        run = await again.get_run("r1")
        assert run is not None and run.status == "running" and run.last_seq == 2
        assert (await again.steps("r1"))[0].outputs == [1]
        assert await again.integrity_check() == "ok"
    finally:
        await again.close()


async def test_sqlite_refuses_outputs_it_cannot_keep(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, max_output_bytes=100)
    await store.open()
    try:
        await store.create_run(record("r1"))
        with pytest.raises(OutputRejected, match="at most 100"):
            await store.append(event("r1", 1, "succeeded", "a", outputs="x" * 500))
        with pytest.raises(OutputRejected, match="not JSON"):
            await store.append(event("r1", 1, "succeeded", "a", outputs={1, 2}))
    finally:
        await store.close()


async def test_durable_stores_refuse_numbers_they_would_write_as_null(
    make_store: Callable[[], Store],
) -> None:
    """orjson writes NaN and infinity as null: the durable stores refuse such outputs (the
    step fails, saying why) instead of keeping a null nobody wrote. (The memory store keeps
    Python values; it encodes nothing.)"""
    store = make_store()
    if isinstance(store, MemoryStore):
        pytest.skip("the memory store encodes nothing")
    await store.open()
    try:
        await store.create_run(record("r1"))
        assert await store.claim_run("r1")
        with pytest.raises(OutputRejected, match=r"outputs.v\[1\]: nan is not a finite number"):
            await store.append(event("r1", 1, "succeeded", "a", outputs={"v": [1, float("nan")]}))
        with pytest.raises(OutputRejected, match="inf is not a finite number"):
            await store.append(event("r1", 1, "succeeded", outputs=float("inf")))
        await store.append(event("r1", 1, "succeeded", "a", outputs={"v": [1, None]}))
        assert (await store.steps("r1"))[0].outputs == {"v": [1, None]}
    finally:
        await store.close()


async def test_sqlite_prunes_old_finished_runs(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    try:
        for run_id in ("old", "new", "open"):
            await store.create_run(record(run_id))
        await store.append(event("old", 1, "succeeded"))
        await store.append(Event(run_id="new", seq=1, at=5000.0, status="succeeded"))
        await store.append(event("open", 1, "running"))
        assert await store.prune(older_than=100.0) == 1
        assert {r.run_id for r in await store.list_runs()} == {"new", "open"}
        assert await store.events("old") == []
    finally:
        await store.close()


async def test_group_commit_batches_concurrent_appends(tmp_path: Path) -> None:
    import asyncio

    store = SqliteStore(tmp_path)
    await store.open()
    try:
        await store.create_run(record("r1"))
        await asyncio.gather(
            *(store.append(event("r1", i, "queued", f"s{i}")) for i in range(1, 2001))
        )
        assert len(await store.events("r1")) == 2000
        assert store.commits < 2001  # many events shared a transaction
    finally:
        await store.close()


async def test_a_cancelled_waiter_does_not_cancel_its_batch(tmp_path: Path) -> None:
    import asyncio

    store = SqliteStore(tmp_path)
    await store.open()
    try:
        await store.create_run(record("r1"))
        with store._pending:  # hold the writer back so both events share one batch
            first = asyncio.create_task(store.append(event("r1", 1, "running")))
            second = asyncio.create_task(store.append(event("r1", 2, "queued", "a")))
            await asyncio.sleep(0)
            first.cancel()  # e.g. fail_fast cancelling a step while its event commits
            await asyncio.sleep(0)
        await second  # must not be cancelled with it
        with pytest.raises(asyncio.CancelledError):
            await first
        assert [e.seq for e in await store.events("r1")] == [1, 2]
    finally:
        await store.close()


async def test_a_taken_run_id_fails_only_its_own_create(make_store: Callable[[], Store]) -> None:
    """Replayed webhooks and cron fires are deduplicated by run id: the duplicate create is
    refused with RunExists, and events committed beside it (same batch) are unaffected."""
    store = make_store()
    await store.open()
    try:
        await store.create_run(record("r1"))
        assert await store.claim_run("r1")
        outcomes = await asyncio.gather(
            store.append(event("r1", 1, "running")),
            store.create_run(record("r1")),
            store.create_run(record("r2")),
            return_exceptions=True,
        )
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], RunExists)
        assert [e.seq for e in await store.events("r1")] == [1]
        assert await store.get_run("r2") is not None
    finally:
        await store.close()


async def test_an_event_must_follow_the_last_one_committed(
    make_store: Callable[[], Store],
) -> None:
    """A run's event log is gapless and never rewritten: an event whose number does not
    directly follow the last committed one is refused alone (EventOutOfOrder, with the number
    the store holds last), also beside events it shares a commit with. So after a commit the
    store refused, a later event of the run cannot land either, and a crash before the refused
    one is committed again leaves no hole (the simulation's seed 233)."""
    store = make_store()
    await store.open()
    try:
        await store.create_run(record("r1"))
        assert await store.claim_run("r1")
        await store.append(event("r1", 1, "running"))
        with pytest.raises(EventOutOfOrder) as caught:  # 2 was refused: 3 must not land
            await store.append(event("r1", 3, "queued", "a"))
        assert caught.value.last_seq == 1
        outcomes = await asyncio.gather(  # one batch: each event judged alone, in order
            store.append(event("r1", 2, "queued", "a")),
            store.append(event("r1", 4, "succeeded")),  # not after 2: refused, run not ended
            store.append(event("r1", 3, "running", "a", attempt=1)),
            store.append(event("r1", 3, "failed", "a", attempt=1)),  # taken: refused
            return_exceptions=True,
        )
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], EventOutOfOrder) and outcomes[1].last_seq == 2
        assert isinstance(outcomes[3], EventOutOfOrder) and outcomes[3].last_seq == 3
        assert [(e.seq, e.status) for e in await store.events("r1")] == [
            (1, "running"),
            (2, "queued"),
            (3, "running"),
        ]
        run = await store.get_run("r1")
        assert run is not None and (run.status, run.last_seq) == ("running", 3)
        assert [(s.step_id, s.status) for s in await store.steps("r1")] == [("a", "running")]
        await store.append(event("r1", 4, "succeeded"))
        run = await store.get_run("r1")
        assert run is not None and (run.status, run.last_seq) == ("succeeded", 4)
    finally:
        await store.close()


async def test_sqlite_checks_the_order_against_the_file_not_only_its_memory(
    tmp_path: Path,
) -> None:
    """The SQLite writer remembers each run's last number (no lookup per commit); another
    process that wrote the run since (it resumed it) does not make it refuse what follows."""
    a, b = SqliteStore(tmp_path), SqliteStore(tmp_path)
    await a.open()
    await b.open()
    try:
        await a.create_run(record("r1"))
        await a.append(event("r1", 1, "running"))
        await a.append(event("r1", 2, "queued", "x"))
        assert await b.adopt("r1") is not None  # another process resumes the run
        await b.append(event("r1", 3, "running", "x", attempt=1))
        await a.append(event("r1", 4, "succeeded", "x", attempt=1))  # a remembered 2
        assert await a.adopt("r1") is not None  # a resumes it: reads the last number again
        await b.append(event("r1", 5, "succeeded"))
        with pytest.raises(EventOutOfOrder) as caught:
            await a.append(event("r1", 5, "failed"))
        assert caught.value.last_seq == 5
        assert [e.seq for e in await a.events("r1")] == [1, 2, 3, 4, 5]
    finally:
        await a.close()
        await b.close()
