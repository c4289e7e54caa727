"""`llm`: ask any OpenAI-compatible chat-completions endpoint; optionally accept its answer
only if the socratic engine shows it follows from given premises.

The endpoint, model and key come from the agent's settings (daemon config, `agents.llm`) or
the step; put the key in `secrets` and pass it as `api_key: ${{ secrets.openai }}`.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.socratic import decide
from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import RetryableStepError, StepError
from mastermind.language.model import Duration, empty_list
from mastermind.reasoning.engine import claim_of


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class LlmParams(Params):
    prompt: str | None = Field(None, description="a single user message")
    messages: list[Message] | None = Field(None, description="the whole conversation")
    system: str | None = None
    model: str | None = Field(None, description="default: the agent's configured model")
    base_url: str | None = Field(None, description="default: the agent's configured endpoint")
    api_key: str | None = Field(None, description="default: the agent's configured key")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=100_000)
    timeout: Duration = 60.0
    validate_with: Literal["socratic"] | None = None
    premises: list[str] = Field(
        default_factory=empty_list, description="for validate_with: socratic"
    )
    reading: Literal["boolean", "traditional"] = Field(
        "boolean", description="for validate_with: socratic"
    )

    @model_validator(mode="after")
    def _one_input(self) -> LlmParams:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        if self.validate_with and not self.premises:
            raise ValueError("validate_with: socratic needs `premises`")
        return self


async def check_answer(
    premises: list[str], content: str, reading: str, ctx: StepContext
) -> dict[str, Any]:
    """Fail closed: the answer is accepted only if every premise and the claim were read, the
    premises are consistent, and the claim follows from them."""
    conclusion = claim_of(content)
    request = {
        "premises": premises,
        "conclusion": conclusion or None,
        "operation": "validate",
        "reading": reading,
    }
    checked = await decide(request, ctx.services)
    reasons = [f"{r['premise']!r} cannot be read: {r['reason']}" for r in checked["rejected"]]
    if not conclusion:
        reasons.append("the answer has no claim to check")
    elif checked.get("consistent") is False:
        reasons.append("the premises are inconsistent, so anything would follow")
    elif checked.get("valid") is not True and not checked["rejected"]:
        reasons.append("the claim does not follow from the premises")
    accepted = not reasons and checked.get("valid") is True and checked.get("consistent") is True
    return {
        "accepted": accepted,
        "conclusion": conclusion,
        "validation": checked,
        "rejected_because": reasons,
    }


class LlmAgent(Agent[LlmParams]):
    """Outputs `content`, `model`, `finish_reason`, `usage`; with validate_with: `accepted`,
    `conclusion` (the claim read from the answer's first line), `rejected_because`, and the
    socratic `validation` (with a counter-example when the claim does not follow)."""

    name = "llm"
    examples = (
        {
            "prompt": "Is Socrates mortal?",
            "validate_with": "socratic",
            "premises": ["All humans are mortal.", "Socrates is a human."],
        },
    )
    Params = LlmParams

    def __init__(self, base_url: str = "", model: str = "", api_key: str = "") -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self._session: aiohttp.ClientSession | None = None

    async def run(self, params: LlmParams, ctx: StepContext) -> Any:
        base_url = (params.base_url or self.base_url).rstrip("/")
        model = params.model or self.model
        if not base_url or not model:
            raise StepError("llm needs base_url and model (in the step or the agent settings)")
        messages = [m.model_dump() for m in params.messages or []]
        if params.prompt is not None:
            messages = [{"role": "user", "content": params.prompt}]
        if params.system:
            messages.insert(0, {"role": "system", "content": params.system})
        body = {
            "model": model,
            "messages": messages,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        headers = {"Idempotency-Key": ctx.idempotency_key}
        key = params.api_key or self.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        reply = await self._post(f"{base_url}/chat/completions", body, headers, params.timeout)
        try:
            choice = reply["choices"][0]
            content = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise StepError("the endpoint's reply has no choices[0].message.content") from None
        result: dict[str, Any] = {
            "content": content,
            "model": reply.get("model", model),
            "finish_reason": choice.get("finish_reason"),
            "usage": reply.get("usage", {}),
        }
        if params.validate_with == "socratic":
            result.update(await check_answer(params.premises, content, params.reading, ctx))
        return result

    async def _post(
        self, url: str, body: dict[str, Any], headers: dict[str, str], seconds: float
    ) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response:
                text = await response.text()
                if response.status == 429 or response.status >= 500:
                    raise RetryableStepError(f"HTTP {response.status} from {url}: {text[:200]}")
                if response.status >= 400:
                    raise StepError(f"HTTP {response.status} from {url}: {text[:200]}")
                try:
                    data: dict[str, Any] = await response.json(content_type=None)
                except ValueError:
                    raise StepError(f"{url} did not answer with JSON") from None
                return data
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RetryableStepError(f"POST {url} failed: {type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
