"""Constrained names shared by the language and the agents."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

SignalName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
