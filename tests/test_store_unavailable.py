"""A store that refuses writes (a full disk) is an answer the client can act on, not a 500:
POST /runs gets 503 with Retry-After and the reason, /readyz reports the store until it commits
again. The disk is full for real: SQLite's own `max_page_count` limit, reached by a real write."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from mastermind.service.api import make_app
from mastermind.service.config import Config
from mastermind.service.daemon import Daemon
from mastermind.store.sqlite import SqliteStore
from tests.servers import serve


class FillableSqliteStore(SqliteStore):
    """The embedded store on a disk that can be made full: while `full` is set, the database
    may not grow by a single page (SQLite answers SQLITE_FULL, 'database or disk is full')."""

    full = False

    def _write(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        # every commit writes through here, the writer thread's and the loop's own
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages if self.full else 1 << 30}")
        super()._write(conn, batch)


async def test_a_full_disk_answers_503_and_readiness_reports_it(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    payload = "x" * 20_000  # each run's row needs new pages
    (folder / "big.yaml").write_text(
        f"name: big\nsteps:\n  a: {{agent: noop, with: {{value: {payload}}}}}\n"
    )
    config = Config.model_validate(
        {"workflows": folder, "store": {"state_dir": tmp_path / "state"}, "api": {"tokens": ["t"]}}
    )
    daemon = Daemon(config)
    daemon.tokens = ["t"]
    store = FillableSqliteStore(tmp_path / "state" / "mastermind.db")
    daemon.store = daemon.coordinator.store = store
    headers = {"Authorization": "Bearer t"}
    body = {"workflow": "big", "inputs": {}}
    async with daemon.coordinator:
        await daemon.load_workflows()
        daemon.ready = True
        async with serve(make_app(daemon)) as url, aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{url}/api/v1/runs", json=body) as response:
                assert response.status in (201, 202), await response.text()
                first = (await response.json())["run_id"]
            assert (await daemon.coordinator.wait(first)).ok  # done before the disk fills
            store.full = True
            async with http.post(f"{url}/api/v1/runs", json=body) as response:
                refused = await response.json()
                assert response.status == 503, refused
                assert response.headers["Retry-After"] == "5"
            assert "database or disk is full" in refused["error"]
            async with http.get(f"{url}/readyz") as response:
                assert response.status == 503
                assert "database or disk is full" in (await response.json())["error"]
            store.full = False
            async with http.post(f"{url}/api/v1/runs", json=body) as response:
                assert response.status in (201, 202), await response.text()
                last = (await response.json())["run_id"]
            async with http.get(f"{url}/readyz") as response:
                assert response.status == 200
            assert (await daemon.coordinator.wait(last)).ok
