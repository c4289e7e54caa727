"""Where the embedded store keeps its files when nobody says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    """$MASTERMIND_STATE_DIR, else $XDG_STATE_HOME/mastermind, else ~/.local/state/mastermind."""
    if os.environ.get("MASTERMIND_STATE_DIR"):
        return Path(os.environ["MASTERMIND_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mastermind"
