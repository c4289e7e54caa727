"""The PostgreSQL server these machines run (127.0.0.1:5432, trust auth, database `test`)."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg

PG_DSN = os.environ.get("MASTERMIND_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()

    asyncio.run(drop())
