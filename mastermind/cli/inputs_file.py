"""`--inputs FILE`: a JSON object of run inputs, read for `run` and `submit` alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mastermind.errors import InputError


def read_inputs_file(path: str) -> dict[str, Any]:
    """The inputs in `path`; InputError if it cannot be read or is not a JSON object."""
    try:
        loaded = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"cannot read inputs from {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{path} must hold a JSON object")
    return loaded
