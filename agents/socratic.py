"""`socratic`: check reasoning. Are the premises consistent? Does the conclusion follow (and
if not, what situation shows it does not)? What follows from them? What depends on a premise?

Premises and conclusion are controlled English or propositional syntax (see
mastermind/reasoning/grammar.py). Entailment is decided exactly by a SAT solver. That is CPU
work, so it runs in the process pool; a small request (see `is_small`) is decided in a thread
instead, because starting the pool takes longer than deciding it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import StepError
from mastermind.language.templates import has_expression
from mastermind.reasoning.engine import evaluate, is_small
from mastermind.reasoning.grammar import warm
from mastermind.reasoning.parse import PremiseError, parse_premise

if TYPE_CHECKING:
    from mastermind.engine.agent import StepServices

ENGINE = "mastermind.reasoning.engine:evaluate"


async def decide(request: dict[str, Any], services: StepServices) -> dict[str, Any]:
    """Run the Socratic engine on a request: in a thread when small, else in the pool."""
    if is_small(request):
        return await asyncio.to_thread(evaluate, request)
    result: dict[str, Any] = await services.process_pool.run(ENGINE, [request])
    return result


class SocraticParams(Params):
    premises: list[str] = Field(min_length=1, max_length=200)
    conclusion: str | None = Field(None, description="omit to derive what follows")
    operation: Literal["validate", "derive", "challenge", "truth_table"] | None = Field(
        None, description="default: validate with a conclusion, derive without"
    )
    reading: Literal["boolean", "traditional"] = Field(
        "boolean",
        description="traditional: every term is assumed to be non-empty (existential import)",
    )
    remove: int | None = Field(None, ge=1, description="challenge: the premise (1-based) to drop")
    on_rejected: Literal["fail", "report"] = Field(
        "fail", description="a premise that cannot be read fails the step, or is only reported"
    )

    @model_validator(mode="before")
    @classmethod
    def _warm(cls, data: Any, info: ValidationInfo) -> Any:
        """Sentences that come from expressions are read at run time: build the grammar when
        the workflow loads, so the first run's step does not pay for it."""
        loading = isinstance(info.context, dict) and info.context.get("loading") is True
        if loading and isinstance(data, dict):
            texts = data.get("premises"), data.get("conclusion")
            flat = [t for x in texts for t in (x if isinstance(x, list) else [x])]
            if any(isinstance(t, str) and has_expression(t) for t in flat):
                warm()
        return data

    @model_validator(mode="after")
    def _readable(self, info: ValidationInfo) -> SocraticParams:
        # Premises written literally are read when the workflow loads (the loader passes the
        # context); at run time the engine reads them off the event loop, in its thread or the
        # process pool, and reports what it cannot read.
        loading = isinstance(info.context, dict) and info.context.get("loading") is True
        if self.on_rejected == "fail" and loading:
            for number, text in enumerate(self.premises, 1):
                if not has_expression(text):
                    try:
                        parse_premise(text)
                    except PremiseError as exc:
                        raise ValueError(f"premise {number}: {exc}") from None
        if self.operation == "challenge" and self.remove is None:
            raise ValueError("challenge needs `remove`: the number of the premise to drop")
        return self


class SocraticAgent(Agent[SocraticParams]):
    """Outputs `valid`, `consistent`, `conclusion`, `derived`, `counterexample`,
    `explanation` (steps in words), `rejected` (premises with reasons), `premises` (as read)."""

    name = "socratic"
    examples = (
        {
            "premises": ["All humans are mortal.", "Socrates is a human."],
            "conclusion": "Socrates is mortal.",
        },
    )
    Params = SocraticParams
    cpu_bound = True

    async def run(self, params: SocraticParams, ctx: StepContext) -> Any:
        operation = params.operation or ("validate" if params.conclusion else "derive")
        request = {
            "premises": params.premises,
            "conclusion": params.conclusion,
            "operation": operation,
            "remove": (params.remove or 1) - 1,
            "reading": params.reading,
        }
        result = await decide(request, ctx.services)
        if result["rejected"] and params.on_rejected == "fail":
            reasons = "; ".join(r["reason"] for r in result["rejected"])
            raise StepError(reasons)
        return result
