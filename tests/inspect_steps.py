"""Steps the inspector tests watch: each tells the test (over a loopback socket) that it has
reached the state the test inspects, then stays there until the test lets it go."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time


async def read_forever(port: int) -> str:
    """Await a socket read that only ends when the test writes or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"socket\n")
        data = await reader.read(1)  # the step the inspector finds awaiting a socket
        return data.decode()
    finally:
        writer.close()


def announce_then_wait(port: int) -> int:
    """In a pool worker: say which process runs this call, then wait for the test's go."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(f"cpu {os.getpid()}\n".encode())
        conn.settimeout(60)
        conn.recv(1)
    return os.getpid()


async def block_until_told(port: int) -> str:
    """Block the event loop on purpose (time.sleep in an async def) until the test's go.

    It says `block` over an asyncio connection before it blocks: a blocking connect would be
    part of the block, and on a loaded machine the watchdog's samples could find the loop in
    `socket.create_connection` more often than here (the episode names the place most samples
    saw)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"block\n")
        await writer.drain()
        conn = writer.get_extra_info("socket").fileno()
        deadline = time.monotonic() + 60
        while not select.select([conn], [], [], 0)[0] and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 - BLOCKS THE LOOP, on purpose
        return "unblocked"
    finally:
        writer.close()
