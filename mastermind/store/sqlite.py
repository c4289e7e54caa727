"""The embedded store: one SQLite file in WAL mode, one writer thread with group commit.

`append` hands an event to the writer thread and returns when the transaction holding it has
committed. The writer takes every event queued while the previous commit was running and writes
them in one transaction, so throughput grows with load while each acknowledged transition is
durable. With `synchronous=NORMAL` (the default) a committed transaction survives a crash of the
process; it can be lost in a power failure or OS crash (the WAL is not fsynced on every commit).
`synchronous=FULL` fsyncs every commit and survives power loss too, at a cost in throughput.

Reads run on their own connection in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import orjson

from mastermind.errors import EventOutOfOrder, OutputRejected, RunExists, StoreUnavailable
from mastermind.store.base import (
    RunRecord,
    StepRecord,
    Store,
    fold_steps,
    refuse_lost_numbers,
)
from mastermind.store.events import RUN_FINAL, Event, RunStatus
from mastermind.store.state_dir import create_private, ensure_private_dir, make_private

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
DB_NAME = "mastermind.db"

MIGRATIONS: list[str] = [
    # 1: runs and their append-only event logs (step records are folded from the log)
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        digest TEXT NOT NULL,
        definition TEXT NOT NULL,
        file TEXT NOT NULL,
        inputs TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        outputs TEXT,
        error TEXT,
        parent TEXT,
        owner TEXT,
        last_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_status ON runs (status, created_at);
    CREATE INDEX runs_by_workflow ON runs (workflow, created_at);
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    """,
    # 2: runs a trigger started are not sub-runs: they used to be stored with a parent
    # ('webhook', 'cron:...'), which made resume skip them
    """
    ALTER TABLE runs ADD COLUMN trigger TEXT;
    UPDATE runs SET trigger = parent, parent = NULL
        WHERE parent = 'webhook' OR parent LIKE 'cron:%';
    """,
]


class StoreClosed(StoreUnavailable):
    """The store is closed."""


_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode(value: Any) -> str:
    """Compact JSON text. orjson: every transition is encoded on the event loop, and it is
    several times faster than the json module; it raises TypeError for anything not JSON data."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def _connect(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that holds the database open (a read takes its shared lock)."""
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30
    )
    conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this file has not seen; returns the schema version."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = number
    return version


_Op = tuple[str, tuple[Any, ...]]
_HERE_AT_MOST = 16  # operations a batch committed on the loop may hold (see _commit_here)
_CHECKPOINT_EVERY = 256  # commits on the loop between checkpoints by the writer thread
_HAND_OVER_AT = 256  # operations gathered on the loop before the writer gets them mid-iteration


class _Commit(asyncio.Future[None]):
    """The one future every operation of a batch waits on. It cannot be cancelled: cancelling
    one waiter would otherwise cancel it for every event in the same transaction. A waiter that
    is cancelled still is, as soon as the commit it waits for lands (milliseconds)."""

    def cancel(self, msg: Any | None = None) -> bool:
        return False


class SqliteStore(Store):
    """Runs in `<state_dir>/mastermind.db`."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        max_output_bytes: int = 1024 * 1024,
        owner: str | None = None,
    ) -> None:
        self.path = Path(state_dir) / DB_NAME
        self.synchronous = synchronous
        self.max_output_bytes = max_output_bytes
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        # Operations are gathered on the loop (no lock per event) into a batch with one future
        # they are all settled by, and handed to the writer one loop iteration after the one
        # that started the batch (or once it is large): what the steps of those iterations
        # write goes into one transaction, and whatever is handed over while a commit runs
        # goes into the next one together.
        self._filling: list[_Op] = []  # the loop's batch (touched on the loop thread only)
        self._filling_future: _Commit | None = None
        self._pending = threading.Condition()
        self._ops: list[_Op] = []  # handed to the writer
        self._futures: list[asyncio.Future[None]] = []  # settled when `_ops` are committed
        self._committing = False  # the writer is committing a batch
        # A small batch is committed on the loop itself when the writer has nothing to do
        # (synchronous NORMAL or OFF: a WAL append, no fsync): a chain's step then costs no
        # thread hop, which on a loaded machine is a wait for a free core both ways. This
        # connection never waits for a lock (another writer: the batch goes to the thread)
        # and never checkpoints (the writer thread does, asked every _CHECKPOINT_EVERY).
        self._here: sqlite3.Connection | None = None
        self._here_commits = 0
        # batches handed to the writer whose waiters the loop has not settled yet (loop
        # thread only): while any is, a batch is not committed on the loop, or its waiters
        # (and the listeners after them) would see its events before earlier ones
        self._with_writer = 0
        self._stopping = False
        self._broken: BaseException | None = None  # the writer died: refuse further writes
        self._switch_interval: float | None = None
        self._writer: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The writers' memory of each run's last committed seq (runs written since the store
        # opened that have not ended), so that checking an event follows it costs no lookup;
        # forgotten when a batch fails or the run is adopted (resumed), read again on a miss
        # and before refusing. Used by one writer at a time (the loop's commits run only while
        # the writer thread is idle, under `_pending`).
        self._last_seq: dict[str, int] = {}
        self._staged: tuple[dict[str, int], list[str]] | None = None  # this batch's, uncommitted
        self.commits = 0
        self.commit_seconds = 0.0

    # ------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The writer re-takes the GIL after every SQLite call; with the default 5 ms switch
        # interval it queues behind a busy event loop for most of a commit (measured: 16k vs
        # 28k durable steps/s). 1 ms keeps the writer moving; restored on close.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.001))
        ready: asyncio.Future[None] = self._loop.create_future()
        self._writer = threading.Thread(
            target=self._write_loop, args=(ready,), name="mastermind-sqlite-writer", daemon=True
        )
        self._writer.start()
        await ready  # the writer thread prepared the files and opened both connections

    def _prepare_files(self) -> None:
        """The directory 0700 and the database (with its WAL and SHM files) 0600, whatever the
        umask: runs' inputs and outputs are nobody else's business."""
        ensure_private_dir(self.path.parent)
        create_private(self.path)
        for suffix in ("-wal", "-shm"):  # left by an older version or another umask
            make_private(self.path.with_name(self.path.name + suffix))

    async def close(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        writer, self._writer = self._writer, None
        if writer is not None:
            self._hand_over()
            with self._pending:
                self._stopping = True
                self._pending.notify()
        reader, self._reader = self._reader, None
        here, self._here = self._here, None
        if writer is not None or reader is not None:
            await asyncio.to_thread(self._close_connections, writer, reader, here)

    def _close_connections(
        self,
        writer: threading.Thread | None,
        reader: sqlite3.Connection | None,
        here: sqlite3.Connection | None = None,
    ) -> None:
        """Stop the writer and close the connections, a read-only one last: the last connection
        to close a WAL database checkpoints it (copies the WAL into the database, two fsyncs:
        10-20 ms of every `mastermind run` on this machine's disk), and a read-only one cannot.
        The WAL then stays, committed, as after a crash; the next writer checkpoints it once it
        holds 1,000 pages, as it does while running. What synchronous promises is unchanged."""
        last: sqlite3.Connection | None = None
        with contextlib.suppress(sqlite3.Error, OSError):
            last = _connect_read_only(self.path)
        try:
            if writer is not None:
                writer.join(30)
            if reader is not None:
                reader.close()
            if here is not None:
                here.close()
        finally:
            if last is not None:
                last.close()

    # ------------------------------------------------------------------------------ writes

    def _submit(self, kind: str, *args: Any) -> asyncio.Future[None]:
        if self._writer is None or self._loop is None:
            raise StoreClosed("the store is not open")
        if self._broken is not None:
            raise StoreClosed(f"the store's writer stopped: {self._broken}")
        self._filling.append((kind, args))
        future = self._filling_future
        if future is None:
            future = self._filling_future = _Commit(loop=self._loop)
            self._loop.call_soon(self._hand_over_soon)
        elif len(self._filling) >= _HAND_OVER_AT:
            self._hand_over()  # the writer starts on these while the loop goes on
        return future

    def _hand_over_soon(self) -> None:
        """One more loop iteration first: tasks created in the iteration that started the batch
        (a finished step's dependents) take their first step in the next one, and their
        `queued` and `running` then join the commit of the event that released them."""
        assert self._loop is not None
        self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        """Give the loop's batch to the writer (one lock and one wake-up per batch)."""
        future = self._filling_future
        if future is None:
            return
        ops, self._filling, self._filling_future = self._filling, [], None
        with self._pending:
            if self._broken is not None:  # the writer died: nobody will commit these
                _resolve([future], self._broken)
                return
            if (
                self._here is not None
                and len(ops) <= _HERE_AT_MOST
                and self._with_writer <= 0
                and not self._ops
                and not self._committing
                and self._commit_here(self._here, ops, future)
            ):
                return
            self._with_writer += 1
            if self._ops:
                self._ops.extend(ops)
            else:
                self._ops = ops
            self._futures.append(future)
            self._pending.notify()

    async def create_run(self, run: RunRecord, *, claim: bool = False) -> None:
        run_row = (
            run.run_id,
            run.workflow,
            run.digest,
            run.definition,
            run.file,
            encode(run.inputs),
            run.status,
            run.created_at,
            run.parent,
            self.owner,
            run.trigger,
        )
        duplicate: list[bool] = []  # the writer appends True if the id is taken
        await self._submit("create", run_row, duplicate)
        if duplicate:
            raise RunExists(f"run {run.run_id} already exists")

    async def adopt(self, run_id: str) -> RunRecord | None:
        """Take over an unfinished run (resume): record this process as its owner."""
        run = await self.get_run(run_id)
        if run is not None:
            await self._submit("own", run_id, self.owner)
        return run

    async def append(self, event: Event) -> None:
        try:
            encoded = encode(event)  # orjson encodes the dataclass itself, outputs included
        except (TypeError, ValueError, orjson.JSONEncodeError) as exc:
            raise OutputRejected(f"outputs are not JSON data: {exc}") from None
        refuse_lost_numbers(event, encoded)
        if event.outputs is not None and len(encoded) > self.max_output_bytes:
            size = len(encode(event.outputs))  # the rare, exact check
            if size > self.max_output_bytes:
                raise OutputRejected(
                    f"outputs are {size} bytes; the store keeps at most "
                    f"{self.max_output_bytes} (max_output_bytes)"
                )
        run_row: tuple[Any, ...] | None = None
        if event.step_id is None:  # a run transition also updates the run's row
            final = event.status in RUN_FINAL
            run_row = (
                event.status,
                event.at if event.status == RunStatus.RUNNING else None,
                event.at if final else None,
                encode(event.outputs) if final and event.outputs is not None else None,
                event.error if final else None,
                event.run_id,
            )
        refused: list[int] = []  # the writer appends the run's last seq if out of order
        await self._submit("event", (event.run_id, event.seq, encoded), run_row, refused)
        if refused:
            raise EventOutOfOrder(event.run_id, event.seq, refused[0])

    def _settle(self, futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
        """On the loop: a batch the writer thread committed (or could not)."""
        self._with_writer -= len(futures)
        _resolve(futures, error)

    def _commit_here(
        self, conn: sqlite3.Connection, batch: list[_Op], future: asyncio.Future[None]
    ) -> bool:
        """Commit a small batch on the loop (the writer is idle and waits for `_pending`, held
        by the caller, so batches stay in order). False if another connection holds the
        database's write lock: then the writer thread waits for it instead."""
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # busy: never wait on the loop
            return False
        error: BaseException | None = None
        try:
            self._write(conn, batch)
            conn.execute("COMMIT")
        except BaseException as exc:  # the whole batch failed: tell every waiter
            error = exc
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        self._remember(batch, committed=error is None)
        self.commits += 1
        self.commit_seconds += time.perf_counter() - started
        _resolve([future], error)
        self._here_commits += 1
        if self._here_commits % _CHECKPOINT_EVERY == 0:  # the writer thread checkpoints
            self._ops.append(("checkpoint", ()))
            self._pending.notify()
        return True

    def _write_loop(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            self._prepare_files()
            conn = _connect(self.path, self.synchronous)
        except BaseException as exc:  # report to open(); the thread ends
            loop.call_soon_threadsafe(_fail, ready, exc)
            return
        try:
            migrate(conn)
            # the reader too, here: opening the store costs one thread hop, not three
            self._reader = _connect(self.path, self.synchronous)
            if self.synchronous in ("OFF", "NORMAL"):
                self._here = _connect(self.path, self.synchronous)
                self._here.execute("PRAGMA busy_timeout=0")
                self._here.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException as exc:
            conn.close()
            loop.call_soon_threadsafe(_fail, ready, exc)
            return
        loop.call_soon_threadsafe(_settle, ready)
        try:
            while True:
                with self._pending:
                    self._committing = False
                    while not self._ops and not self._stopping:
                        self._pending.wait()
                    if not self._ops:
                        break  # stopping, and everything is written
                    batch, futures = self._ops, self._futures
                    self._ops, self._futures = [], []
                    self._committing = True
                self._commit(conn, batch, futures, loop)
        except BaseException as exc:  # never leave a waiter hanging on a dead writer
            self._broken = exc
            with self._pending:
                futures, self._futures, self._ops = self._futures, [], []
            if futures:
                loop.call_soon_threadsafe(self._settle, futures, exc)
            raise
        finally:
            conn.close()

    def _commit(
        self,
        conn: sqlite3.Connection,
        batch: list[_Op],
        futures: list[asyncio.Future[None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:

        started = time.perf_counter()
        error: BaseException | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._write(conn, batch)
            conn.execute("COMMIT")
        except BaseException as exc:  # the whole batch failed: tell every waiter
            error = exc
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        self._remember(batch, committed=error is None)
        self.commits += 1
        self.commit_seconds += time.perf_counter() - started
        if futures:
            loop.call_soon_threadsafe(self._settle, futures, error)
        if any(kind == "checkpoint" for kind, _ in batch):
            # what the loop's commits added; they go on meanwhile (a passive checkpoint
            # blocks no writer, and this batch is committed): a chain does not wait for fsyncs
            self._committing = False
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _write(self, conn: sqlite3.Connection, batch: list[_Op]) -> None:
        """A batch's writes, inside the caller's transaction."""
        events: list[tuple[tuple[Any, ...], tuple[Any, ...] | None, list[int]]] = []
        creates: list[tuple[tuple[Any, ...], list[bool]]] = []
        owners: list[tuple[Any, ...]] = []
        for kind, args in batch:
            if kind == "event":
                events.append(args)
            elif kind == "create":
                creates.append((args[0], args[1]))
            elif kind == "own":
                owners.append((args[1], args[0]))
        for run_row, duplicate in creates:
            # a taken id fails only its own create, never the batch it shares a commit with
            inserted = conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, workflow, digest, definition, file,"
                " inputs, status, created_at, parent, owner, trigger)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                run_row,
            ).rowcount
            if not inserted:
                duplicate.append(True)
        if owners:
            conn.executemany("UPDATE runs SET owner=? WHERE run_id=?", owners)
            for _, run_id in owners:  # resumed: another process may have written it since
                self._last_seq.pop(run_id, None)
        rows, runs, last = _in_order(conn, events, self._last_seq)
        _insert_events(conn, rows)
        if runs:
            conn.executemany(
                "UPDATE runs SET status=?, started_at=coalesce(started_at, ?),"
                " finished_at=?, outputs=?, error=? WHERE run_id=?",
                runs,
            )
        ended = [run_row[5] for run_row in runs if run_row[2] is not None]
        self._staged = (last, ended)

    def _remember(self, batch: list[_Op], *, committed: bool) -> None:
        """After a batch: remember its runs' last numbers if it committed, else forget them."""
        staged, self._staged = self._staged, None
        if committed and staged is not None:
            last, ended = staged
            self._last_seq.update(last)
            for run_id in ended:  # the run ended: nothing more is written to it
                self._last_seq.pop(run_id, None)
            return
        for kind, args in batch:
            if kind == "event":
                self._last_seq.pop(args[0][0], None)

    # ------------------------------------------------------------------------------ reads

    async def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        def run() -> Any:
            if self._reader is None:
                raise StoreClosed("the store is not open")
            with self._read_lock:
                return query(self._reader)

        return await asyncio.to_thread(run)

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)
            ).fetchall()
        )
        return _run(rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        where, args = [], []
        if status is not None:
            where.append("status=?")
            args.append(status)
        if workflow is not None:
            where.append("workflow=?")
            args.append(workflow)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {_RUN_COLUMNS} FROM runs {clause}"
            " ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?"
        )
        rows = await self._read(lambda c: c.execute(sql, (*args, limit, offset)).fetchall())
        return [_run(row) for row in rows]

    async def run_ids_starting_with(self, prefix: str, limit: int = 2) -> list[str]:
        """A range scan of the primary key."""
        sql = "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT ?"
        bounds = (prefix, prefix + "\U0010ffff", limit)
        rows = await self._read(lambda c: c.execute(sql, bounds).fetchall())
        return [row[0] for row in rows]

    async def steps(self, run_id: str) -> list[StepRecord]:
        """Step records, folded from the run's event log (the one source of truth); read,
        decoded and folded in the reader thread (tens of ms for a 20,000-item run)."""
        return await self._read(  # type: ignore[no-any-return]
            lambda c: fold_steps(_read_events(c, run_id, 0, 10_000_000))
        )

    async def event_log(self, run_id: str) -> list[str]:
        return await self._read(  # type: ignore[no-any-return]
            lambda c: [
                row[0]
                for row in c.execute(
                    "SELECT data FROM events WHERE run_id=? ORDER BY seq", (run_id,)
                )
            ]
        )

    async def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        """Read and decoded in the reader thread, off the event loop."""
        return await self._read(  # type: ignore[no-any-return]
            lambda c: _read_events(c, run_id, after, limit)
        )

    async def owner_of(self, run_id: str) -> str | None:
        rows = await self._read(
            lambda c: c.execute("SELECT owner FROM runs WHERE run_id=?", (run_id,)).fetchall()
        )
        return rows[0][0] if rows else None

    async def integrity_check(self) -> str:
        rows = await self._read(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return str(rows[0][0])

    async def prune(self, older_than: float) -> int:
        """Delete finished runs (with their steps and events) that ended before `older_than`."""
        final = tuple(s.value for s in RunStatus if s.finished)
        marks = ",".join("?" * len(final))

        def delete(c: sqlite3.Connection) -> int:
            c.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    r[0]
                    for r in c.execute(
                        f"SELECT run_id FROM runs WHERE status IN ({marks}) AND finished_at < ?",
                        (*final, older_than),
                    )
                ]
                for table in ("events", "runs"):
                    c.executemany(f"DELETE FROM {table} WHERE run_id=?", [(i,) for i in ids])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return len(ids)

        count: int = await self._read(delete)
        return count


def _read_events(conn: sqlite3.Connection, run_id: str, after: int, limit: int) -> list[Event]:
    """Row by row, not fetchall(): one long C call would hold the GIL (and stall the event
    loop) for the whole read."""
    cursor = conn.execute(
        "SELECT data FROM events WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
        (run_id, after, limit),
    )
    return [Event.from_dict(json.loads(row[0])) for row in cursor]


def _in_order(
    conn: sqlite3.Connection,
    events: list[tuple[tuple[Any, ...], tuple[Any, ...] | None, list[int]]],
    known: dict[str, int],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, int]]:
    """The batch's event rows (and run updates) whose number directly follows their run's last
    committed one, and each such run's last number after the batch; each other event is refused
    alone (its `refused` list gets the run's last number), never the batch it shares a commit
    with. `known`: last numbers the writer remembers; the others are read (a primary-key lookup
    each, however long the log), and a remembered one is read again before it refuses."""
    last: dict[str, int] = {}
    missing = [r for r in dict.fromkeys(row[0] for row, _, _ in events) if r not in known]
    if missing:
        last.update(_last_seqs(conn, missing))
    rows: list[tuple[Any, ...]] = []
    runs: list[tuple[Any, ...]] = []
    for row, run_row, refused in events:
        run_id, seq = row[0], row[1]
        if run_id in last:  # read, or written, in this batch
            current = last[run_id]
        else:
            current = known[run_id]
            if seq != current + 1:  # remembered, perhaps wrongly (another process): read it
                current = _last_seqs(conn, [run_id])[run_id]
        if seq != current + 1:
            refused.append(current)
            last[run_id] = current
            continue
        last[run_id] = seq
        rows.append(row)
        if run_row is not None:
            runs.append(run_row)
    return rows, runs, last


def _last_seqs(conn: sqlite3.Connection, run_ids: list[str]) -> dict[str, int]:
    """Each run's last committed seq (0 for none), in one statement."""
    return dict(
        conn.execute(
            "SELECT value, (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = value)"
            " FROM json_each(?)",
            (json.dumps(run_ids),),
        ).fetchall()
    )


_ROWS_PER_INSERT = 500


def _insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Many rows per INSERT statement: fewer statement steps, each of which gives up and
    re-takes the GIL (measured on the durable benchmark: about 31k vs 27k steps/s for
    executemany)."""
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ",".join(["(?,?,?)"] * len(chunk))
        conn.execute(
            f"INSERT INTO events (run_id, seq, data) VALUES {values}",
            [field for row in chunk for field in row],
        )


_RUN_COLUMNS = (
    "run_id, workflow, digest, definition, file, inputs, status, created_at, started_at,"
    " finished_at, outputs, error, parent,"
    " (SELECT coalesce(max(seq), 0) FROM events WHERE events.run_id = runs.run_id), trigger"
)


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow=row[1],
        digest=row[2],
        definition=row[3],
        file=row[4],
        inputs=json.loads(row[5]),
        status=row[6],
        created_at=row[7],
        started_at=row[8],
        finished_at=row[9],
        outputs=json.loads(row[10]) if row[10] is not None else None,
        error=row[11],
        parent=row[12],
        last_seq=row[13],
        trigger=row[14],
    )


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(StoreUnavailable(f"the store could not commit: {error}"))
