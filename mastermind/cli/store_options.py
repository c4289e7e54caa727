"""The store options every command that reads or writes runs shares, and the store they name."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mastermind.language.durations import parse_duration
from mastermind.store.base import Store
from mastermind.store.memory import MemoryStore
from mastermind.store.sqlite import SqliteStore
from mastermind.store.state_dir import default_state_dir


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    """The store options every command that reads or writes runs shares."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where runs are recorded "
        "(default: $MASTERMIND_STATE_DIR or ~/.local/state/mastermind)",
    )
    parser.add_argument(
        "--synchronous",
        choices=["NORMAL", "FULL"],
        default=os.environ.get("MASTERMIND_SQLITE_SYNCHRONOUS", "NORMAL"),
        help="SQLite durability: NORMAL survives a crash of the process, FULL also power loss",
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("MASTERMIND_DSN"),
        help="use a shared PostgreSQL store instead ($MASTERMIND_DSN)",
    )
    parser.add_argument("--schema", default="mastermind", help="the PostgreSQL schema")
    parser.add_argument(
        "--lease",
        default="15s",
        help="PostgreSQL: how long this process's claim on a run lasts without renewal",
    )


def open_store(args: argparse.Namespace) -> Store:
    """The store the command should use."""
    if getattr(args, "ephemeral", False):
        return MemoryStore()
    if args.dsn:
        from mastermind.store.postgres import PostgresStore

        return PostgresStore(args.dsn, schema=args.schema, lease_seconds=parse_duration(args.lease))
    return SqliteStore(args.state_dir or default_state_dir(), synchronous=args.synchronous)
