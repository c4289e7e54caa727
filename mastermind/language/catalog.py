"""The seam between the language and the agents: what the loader needs to know of an agent.

The loader checks a step's `with:` against its agent's parameter model, but the agents belong to
the engine, above this layer. The engine's `AgentRegistry` satisfies `AgentCatalog`, and its agent
classes satisfy `AgentSpec`, so the language never imports the engine.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict


class AgentSpec(Protocol):
    """An agent kind as the loader sees it (an agent class satisfies this)."""

    @property
    def Params(self) -> type[BaseModel]:
        """The pydantic model a step's `with:` must validate against."""
        ...

    @property
    def literal_fields(self) -> tuple[str, ...]:
        """Parameters that must be written literally, without `${{ }}`."""
        ...


class AgentCatalog(Protocol):
    """Agents by name (the engine's `AgentRegistry` is one)."""

    def get(self, name: str) -> AgentSpec:
        """The agent called `name`; raises `UnknownAgentError` if there is none."""
        ...

    def names(self) -> list[str]:
        """Every agent name known."""
        ...


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class UnresolvedAgent:
    """Stands in for an agent that could not be found; only in definitions that failed to load."""

    Params: type[BaseModel] = _NoParams
    literal_fields: tuple[str, ...] = ()
