"""`llm`: ask any OpenAI-compatible chat-completions endpoint; optionally accept its answer
only if the socratic engine shows it follows from given premises.

The endpoint, model and key come from the agent's settings (daemon config, `agents.llm`) or
the step; put the key in `secrets` and pass it as `api_key: ${{ secrets.openai }}`.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.socratic import ENGINE
from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import RetryableStepError, StepError
from mastermind.language.model import Duration


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
    premises: list[str] = Field(default_factory=list, description="for validate_with: socratic")

    @model_validator(mode="after")
    def _one_input(self) -> LlmParams:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        if self.validate_with and not self.premises:
            raise ValueError("validate_with: socratic needs `premises`")
        return self


class LlmAgent(Agent[LlmParams]):
    """Outputs `content`, `model`, `finish_reason`, `usage`; with validate_with: `accepted`,
    `conclusion`, and the socratic `validation` (with a counter-example when rejected)."""

    name = "llm"
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
            conclusion = content.strip().splitlines()[0].strip() if content.strip() else ""
            request = {
                "premises": params.premises,
                "conclusion": conclusion,
                "operation": "validate",
            }
            checked = await ctx.services.process_pool.run(ENGINE, [request])
            accepted = checked.get("valid") is True and checked.get("consistent") is True
            result.update(accepted=accepted, conclusion=conclusion, validation=checked)
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
