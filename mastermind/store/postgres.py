"""The scale-out store: several daemons on several machines share one PostgreSQL database.

Work is claimed a run at a time with a lease: `claim` takes unowned or expired runs with
`FOR UPDATE SKIP LOCKED`, sets this daemon as owner, bumps the run's fencing `epoch` and sets
`lease_until` from the database's clock (so daemons' clocks need not agree). The owner renews
its leases with heartbeats; a run whose lease could not be renewed is stopped locally before
the lease runs out, and only after it has run out may another daemon claim it. Every event is
written under the epoch it was claimed with: a write from a daemon that lost its lease (a stale
epoch) is rejected with StaleLease, so no step ever has two live attempts.

Events are written by one writer task per daemon with group commit, like the SQLite store.
LISTEN/NOTIFY tells idle daemons that work arrived; they also poll, so nothing depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson

from mastermind.errors import (
    EventOutOfOrder,
    MastermindError,
    OutputRejected,
    RunExists,
    StaleLease,
    StoreUnavailable,
)
from mastermind.store.base import (
    RunRecord,
    StepRecord,
    Store,
    fold_steps,
    refuse_lost_numbers,
)
from mastermind.store.events import RUN_FINAL, Event, RunStatus

if TYPE_CHECKING:
    import asyncpg


def _driver() -> ModuleType:
    """asyncpg, imported on first use: the SQLite-only install does not have it."""
    try:
        import asyncpg as driver
    except ImportError:
        raise MastermindError(
            "the PostgreSQL store needs asyncpg: pip install 'mastermind[postgres]'"
        ) from None
    module: ModuleType = driver
    return module


CHANNEL = "mastermind_work"

MIGRATIONS: list[str] = [
    # 1: runs with leases and fencing epochs; append-only event logs
    """
    CREATE TABLE runs (
        run_id text PRIMARY KEY,
        workflow text NOT NULL,
        digest text NOT NULL,
        definition text NOT NULL,
        file text NOT NULL,
        inputs jsonb NOT NULL,
        status text NOT NULL,
        created_at double precision NOT NULL,
        started_at double precision,
        finished_at double precision,
        outputs jsonb,
        error text,
        parent text,
        owner text,
        epoch bigint NOT NULL DEFAULT 0,
        lease_until double precision NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_claimable ON runs (status, lease_until, created_at);
    CREATE INDEX runs_by_workflow ON runs (workflow, created_at);
    CREATE TABLE events (
        run_id text NOT NULL,
        seq integer NOT NULL,
        data jsonb NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # 2: runs a trigger started are not sub-runs: they used to be stored with a parent
    # ('webhook', 'cron:...'), which made resume skip them
    """
    ALTER TABLE runs ADD COLUMN trigger text;
    UPDATE runs SET trigger = parent, parent = NULL
        WHERE parent = 'webhook' OR parent LIKE 'cron:%';
    """,
]

NOW = "extract(epoch from clock_timestamp())"


def _encode(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# A lease lets this process start new work until this fraction of it has passed since the
# claim or renewal that set it was sent; the rest is margin for clock rates and the moment
# between the check and the work starting.
HOLD_FRACTION = 0.9


class PostgresStore(Store):
    """Runs in PostgreSQL, in the schema `schema` (created if missing)."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "mastermind",
        owner: str | None = None,
        lease_seconds: float = 15.0,
        max_output_bytes: int = 1024 * 1024,
        pool_size: int = 4,
        command_timeout: float = 30.0,
    ) -> None:
        _driver()  # fail here, with the extra's name, not at the first query
        if not schema.replace("_", "").isalnum():
            raise ValueError(f"schema must be a plain identifier, found {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.max_output_bytes = max_output_bytes
        self.pool_size = pool_size
        self.command_timeout = command_timeout  # no call waits on the database longer
        self.epochs: dict[str, int] = {}  # runs this daemon owns → the epoch it claimed
        self._held_until: dict[str, float] = {}  # run → local monotonic end of safe action
        self.renewing = False  # a heartbeat renews this store's leases (see `holds`)
        self.work_arrived = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._pending: list[tuple[Event, str, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0

    # ------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        bootstrap = await self._connect()
        try:
            await bootstrap.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await self._migrate(bootstrap)
        finally:
            await bootstrap.close()
        # a startup setting, so the pool's RESET ALL on release keeps it
        self._pool = await _driver().create_pool(
            self.dsn,
            min_size=1,
            max_size=self.pool_size,
            timeout=self.command_timeout,
            command_timeout=self.command_timeout,
            server_settings={"search_path": self.schema, "application_name": self.app_name},
        )
        self._listener = await self._connect()
        await self._listener.add_listener(CHANNEL, self._notified)
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="pg-writer")

    @property
    def app_name(self) -> str:
        """How this process's connections show in pg_stat_activity."""
        return f"mastermind {self.owner}"[:63]

    async def _connect(self) -> asyncpg.Connection:
        return await _driver().connect(
            self.dsn,
            timeout=self.command_timeout,
            command_timeout=self.command_timeout,
            server_settings={"application_name": self.app_name},
        )

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            # one migrator at a time, whichever daemon starts first
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.schema_version"
                " (version integer NOT NULL)"
            )
            version = await conn.fetchval(f"SELECT max(version) FROM {self.schema}.schema_version")
            version = version or 0
            await conn.execute(f"SET LOCAL search_path TO {self.schema}")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(script)
                await conn.execute(f"INSERT INTO {self.schema}.schema_version VALUES ($1)", number)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(30):
                    await asyncio.shield(self._writer)
            self._writer = None
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _notified(self, *args: Any) -> None:
        self.work_arrived.set()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise MastermindError("the PostgreSQL store is not open")
        return self._pool

    # ------------------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord, *, claim: bool = False) -> None:
        """Accept a run: unowned (whichever daemon claims it first runs it), or with `claim`
        already held by this process under a lease, in the same statement: a worker woken by
        the insert cannot take it first."""
        owner, lease = (self.owner, self.lease_seconds) if claim else (None, None)
        sent = time.monotonic()
        async with self.pool.acquire() as conn:
            epoch = await conn.fetchval(
                "INSERT INTO runs (run_id, workflow, digest, definition, file, inputs, status,"
                " created_at, parent, trigger, owner, epoch, lease_until)"
                " VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,"
                f" CASE WHEN $11::text IS NULL THEN 0 ELSE 1 END, coalesce({NOW} + $12, 0))"
                " ON CONFLICT (run_id) DO NOTHING RETURNING epoch",
                run.run_id,
                run.workflow,
                run.digest,
                run.definition,
                run.file,
                _encode(run.inputs),
                run.status,
                run.created_at,
                run.parent,
                run.trigger,
                owner,
                lease,
            )
            if epoch is None:  # the id is taken: a replayed delivery, a fire started elsewhere
                raise RunExists(f"run {run.run_id} already exists")
            if claim:
                self.epochs[run.run_id] = epoch
                self._held_until[run.run_id] = sent + self.lease_seconds * HOLD_FRACTION
            else:
                await conn.execute(f"NOTIFY {CHANNEL}")

    async def claim(self, limit: int) -> list[str]:
        """Take up to `limit` runs that nobody holds (new, or whose lease expired)."""
        if limit <= 0:
            return []
        sent = time.monotonic()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""
                UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = {NOW} + $2
                WHERE run_id IN (
                    SELECT run_id FROM runs
                    WHERE status IN ('queued', 'running') AND lease_until < {NOW}
                    ORDER BY created_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING run_id, epoch
                """,
                self.owner,
                self.lease_seconds,
                limit,
            )
        for row in rows:
            self.epochs[row["run_id"]] = row["epoch"]
            self._held_until[row["run_id"]] = sent + self.lease_seconds * HOLD_FRACTION
        return [row["run_id"] for row in rows]

    async def claim_run(self, run_id: str) -> bool:
        """Claim one run by id (the daemon that accepted it, or `resume RUN_ID`)."""
        sent = time.monotonic()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = {NOW} + $2
                WHERE run_id = $3 AND status IN ('queued', 'running')
                  AND (lease_until < {NOW} OR owner = $1)
                RETURNING epoch
                """,
                self.owner,
                self.lease_seconds,
                run_id,
            )
        if row is None:
            return False
        self.epochs[run_id] = row["epoch"]
        self._held_until[run_id] = sent + self.lease_seconds * HOLD_FRACTION
        return True

    async def renew(self) -> set[str]:
        """Heartbeat: extend the leases this daemon still holds; returns the runs it lost."""
        owned = list(self.epochs)
        if not owned:
            return set()
        sent = time.monotonic()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""
                UPDATE runs SET lease_until = {NOW} + $1
                WHERE run_id = ANY($2::text[]) AND owner = $3
                RETURNING run_id, epoch
                """,
                self.lease_seconds,
                owned,
                self.owner,
            )
        kept = {row["run_id"] for row in rows if self.epochs.get(row["run_id"]) == row["epoch"]}
        lost = set(owned) - kept
        for run_id in kept:
            self._held_until[run_id] = sent + self.lease_seconds * HOLD_FRACTION
        for run_id in lost:
            self.forget(run_id)
        return lost

    async def release(self, run_ids: list[str]) -> None:
        """Give runs back at once (graceful stop), so another daemon need not wait for expiry."""
        if not run_ids:
            return
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE runs SET lease_until = 0 WHERE run_id = ANY($1::text[]) AND owner = $2",
                run_ids,
                self.owner,
            )
            await conn.execute(f"NOTIFY {CHANNEL}")
        for run_id in run_ids:
            self.forget(run_id)

    def forget(self, run_id: str) -> None:
        """This daemon is done with a run (finished, or given up)."""
        self.epochs.pop(run_id, None)
        self._held_until.pop(run_id, None)

    def holds(self, run_id: str) -> bool:
        """The lease of `run_id` is ours and, by the local monotonic clock, less than
        HOLD_FRACTION of it has passed since the claim or renewal that set it was sent (the
        database set lease_until after that moment, so it runs out later still). A process that was
        paused (SIGSTOP, a VM freeze) or stalled past that point starts no new work until a
        renewal proves the lease is still its own (the monotonic clock counts the pause).
        Only while something renews leases (`renewing`, set by the worker's heartbeat): a
        process that never renews would otherwise stop every run after two thirds of a lease."""
        if not self.renewing:
            return run_id in self.epochs
        return time.monotonic() < self._held_until.get(run_id, 0.0)

    async def adopt(self, run_id: str) -> RunRecord | None:
        if run_id not in self.epochs and not await self.claim_run(run_id):
            return None
        return await self.get_run(run_id)

    async def owner_of(self, run_id: str) -> str | None:
        async with self.pool.acquire() as conn:
            query = "SELECT owner FROM runs WHERE run_id=$1"
            value: str | None = await conn.fetchval(query, run_id)
            return value

    # ------------------------------------------------------------------------------ events

    async def append(self, event: Event) -> None:
        epoch = self.epochs.get(event.run_id)
        if epoch is None:
            raise StaleLease(f"this daemon does not hold run {event.run_id}")
        try:
            encoded = _encode(event)
        except (TypeError, ValueError, orjson.JSONEncodeError) as exc:
            raise OutputRejected(f"outputs are not JSON data: {exc}") from None
        refuse_lost_numbers(event, encoded)
        if event.outputs is not None and len(encoded) > self.max_output_bytes:
            size = len(_encode(event.outputs))
            if size > self.max_output_bytes:
                raise OutputRejected(
                    f"outputs are {size} bytes; the store keeps at most {self.max_output_bytes}"
                )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, encoded, future))
        self._wake.set()
        await future

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closing:
                    return
                continue
            batch, self._pending = self._pending, []
            try:
                stale, refused = await self._commit(batch)
            except asyncio.CancelledError:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(MastermindError("the store closed"))
                raise
            except Exception as exc:  # tell every waiter, keep serving later batches
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(StoreUnavailable(f"the store could not commit: {exc}"))
                continue
            for number, (event, _, future) in enumerate(batch):
                if future.done():
                    continue
                if event.run_id in stale:
                    future.set_exception(StaleLease(f"run {event.run_id} was taken over"))
                elif number in refused:
                    future.set_exception(EventOutOfOrder(event.run_id, event.seq, refused[number]))
                else:
                    future.set_result(None)
            if self._closing and not self._pending:
                return

    async def _commit(
        self, batch: list[tuple[Event, str, asyncio.Future[None]]]
    ) -> tuple[set[str], dict[int, int]]:
        """Write a batch in one transaction; returns the runs whose epoch is stale (not written)
        and the events refused alone, by their place in the batch, each with its run's last
        number: an event must directly follow the last one committed (gapless logs)."""
        runs = {event.run_id for event, _, _ in batch}
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT run_id, owner, epoch FROM runs WHERE run_id = ANY($1::text[]) FOR SHARE",
                list(runs),
            )
            current = {row["run_id"]: (row["owner"], row["epoch"]) for row in rows}
            stale = {
                run_id
                for run_id in runs
                if current.get(run_id) != (self.owner, self.epochs.get(run_id))
            }
            last: dict[str, int] = dict(
                await conn.fetch(
                    "SELECT r, (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = r)"
                    " FROM unnest($1::text[]) AS r",
                    list(runs - stale),
                )
            )
            refused: dict[int, int] = {}
            accepted: list[tuple[Event, str]] = []
            for number, (event, encoded, _) in enumerate(batch):
                if event.run_id in stale:
                    continue
                if event.seq != last[event.run_id] + 1:
                    refused[number] = last[event.run_id]
                    continue
                last[event.run_id] = event.seq
                accepted.append((event, encoded))
            events = [(event.run_id, event.seq, encoded) for event, encoded in accepted]
            if events:
                await conn.executemany(
                    "INSERT INTO events (run_id, seq, data) VALUES ($1, $2, $3::jsonb)", events
                )
            updates = [
                (
                    event.status,
                    event.at if event.status == RunStatus.RUNNING else None,
                    event.at if event.status in RUN_FINAL else None,
                    _encode(event.outputs) if event.outputs is not None else None,
                    event.error if event.status in RUN_FINAL else None,
                    event.run_id,
                )
                for event, _ in accepted
                if event.step_id is None
            ]
            if updates:
                await conn.executemany(
                    "UPDATE runs SET status=$1, started_at=coalesce(started_at, $2),"
                    " finished_at=$3, outputs=$4::jsonb, error=$5,"
                    " lease_until = CASE WHEN $1 IN ('succeeded','failed','cancelled')"
                    " THEN 0 ELSE lease_until END WHERE run_id=$6",
                    updates,
                )
        self.commits += 1
        for event, _ in accepted:
            if event.step_id is None and event.status in RUN_FINAL:
                self.epochs.pop(event.run_id, None)
        return stale, refused

    # ------------------------------------------------------------------------------ reads

    async def get_run(self, run_id: str) -> RunRecord | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM runs WHERE run_id=$1", run_id)
        return _record(row) if row is not None else None

    async def run_ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT run_id FROM runs WHERE starts_with(run_id, $1) ORDER BY run_id LIMIT $2",
                prefix,
                limit,
            )
        return [row["run_id"] for row in rows]

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM runs WHERE ($1::text IS NULL OR status=$1)"
                " AND ($2::text IS NULL OR workflow=$2)"
                " ORDER BY created_at DESC, run_id DESC LIMIT $3 OFFSET $4",
                status,
                workflow,
                limit,
                offset,
            )
        return [_record(row) for row in rows]

    async def steps(self, run_id: str) -> list[StepRecord]:
        """Folded from the event log, decoded and folded in a thread (off the event loop)."""
        rows = await self._event_rows(run_id, 0, 10_000_000)
        return await asyncio.to_thread(lambda: fold_steps(_decode(rows)))

    async def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        rows = await self._event_rows(run_id, after, limit)
        if len(rows) < _DECODE_ON_LOOP:
            return _decode(rows)
        return await asyncio.to_thread(_decode, rows)

    async def event_log(self, run_id: str) -> list[str]:
        return [row[0] for row in await self._event_rows(run_id, 0, 10_000_000)]

    async def _event_rows(self, run_id: str, after: int, limit: int) -> list[Any]:
        async with self.pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(
                "SELECT data::text FROM events WHERE run_id=$1 AND seq>$2 ORDER BY seq LIMIT $3",
                run_id,
                after,
                limit,
            )
        return rows

    async def prune(self, older_than: float) -> int:
        """Delete finished runs (and their events) that ended before `older_than`."""
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                "DELETE FROM runs WHERE status IN ('succeeded','failed','cancelled')"
                " AND finished_at < $1 RETURNING run_id",
                older_than,
            )
            await conn.execute(
                "DELETE FROM events WHERE run_id = ANY($1::text[])", [r[0] for r in ids]
            )
        return len(ids)


_COLUMNS = (
    "run_id, workflow, digest, definition, file, inputs::text, status, created_at, started_at,"
    " finished_at, outputs::text, error, parent, trigger,"
    " (SELECT coalesce(max(seq), 0) FROM events e WHERE e.run_id = runs.run_id) AS last_seq"
)


def _record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        workflow=row["workflow"],
        digest=row["digest"],
        definition=row["definition"],
        file=row["file"],
        inputs=json.loads(row["inputs"]),
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None,
        error=row["error"],
        parent=row["parent"],
        trigger=row["trigger"],
        last_seq=row["last_seq"],
    )


_DECODE_ON_LOOP = 500  # fewer events than this decode in well under a millisecond


def _decode(rows: list[Any]) -> list[Event]:
    return [Event.from_dict(json.loads(row[0])) for row in rows]
