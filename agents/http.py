"""`http`: one HTTP request per step through one shared aiohttp session per process.

The session pools connections and caches DNS. Every request carries the step's
`Idempotency-Key`, so a server can record the effect once even when a step runs again after a
crash. 5xx, 429, timeouts and connection errors are retryable; other 4xx are not.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import aiohttp
from pydantic import Field, field_validator

from mastermind.engine.agent import Agent, Params, StepContext
from mastermind.errors import RetryableStepError, StepError
from mastermind.language.model import Duration, empty_dict

Scalar = str | int | float | bool


class HttpParams(Params):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=empty_dict)
    query: dict[str, Scalar] = Field(default_factory=empty_dict)
    json_body: Any = Field(None, alias="json", description="a JSON request body")
    body: str | None = Field(None, description="a text request body")
    timeout: Duration | None = Field(None, description="limit on the request itself")
    expect: list[int] | None = Field(None, description="statuses that succeed; default 2xx")
    max_bytes: int = Field(10 * 1024 * 1024, ge=0, description="largest response body accepted")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, found {url!r}")
        return url


class HttpAgent(Agent[HttpParams]):
    """Outputs `status`, `headers`, `url`, and `json` (JSON responses) or `body` (text)."""

    name = "http"
    examples = ({"method": "GET", "url": "http://127.0.0.1:8080/health", "expect": [200]},)
    Params = HttpParams

    def __init__(
        self,
        limit: int = 100,
        limit_per_host: int = 0,
        user_agent: str = "",
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
    ) -> None:
        self.limit = limit
        self.limit_per_host = limit_per_host  # 0: no per-host limit
        self.user_agent = user_agent or "mastermind"
        # Always on, also under a step's `timeout:` (which bounds the whole request): a server
        # that accepts and then says nothing must not hold a step forever.
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout  # longest silence while reading a response
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The process's shared session (created in the running loop on first use)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=self.limit_per_host, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent},
                timeout=self._timeout(None),
            )
        return self._session

    async def run(self, params: HttpParams, ctx: StepContext) -> Any:
        headers = {"Idempotency-Key": ctx.idempotency_key, **params.headers}
        kwargs: dict[str, Any] = {"headers": headers}
        if params.query:
            kwargs["params"] = params.query
        if params.timeout is not None:
            kwargs["timeout"] = self._timeout(params.timeout)
        if params.json_body is not None:
            kwargs["json"] = params.json_body
        elif params.body is not None:
            kwargs["data"] = params.body.encode()
        try:
            async with self.session().request(params.method, params.url, **kwargs) as response:
                raw = await _read_capped(response, params.max_bytes)
                status = response.status
                result: dict[str, Any] = {
                    "status": status,
                    "headers": dict(response.headers),
                    "url": str(response.url),
                }
                content_type = response.content_type
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            what = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            raise RetryableStepError(f"{params.method} {params.url} failed: {what}") from None
        except aiohttp.InvalidURL as exc:
            raise StepError(f"invalid URL {exc}") from None
        text = raw.decode("utf-8", "replace")
        if content_type == "application/json" or content_type.endswith("+json"):
            try:
                result["json"] = json.loads(raw) if raw else None
            except ValueError:
                result["body"] = text
        else:
            result["body"] = text
        ok = status in params.expect if params.expect is not None else 200 <= status < 300
        if ok:
            return result
        snippet = text[:200].strip()
        message = f"HTTP {status} from {params.method} {params.url}" + (
            f": {snippet}" if snippet else ""
        )
        if status == 429 or status >= 500:
            raise RetryableStepError(message)
        raise StepError(message)

    def _timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = response.content_length
    if declared is not None:
        if declared > limit:
            raise StepError(f"response body of {declared} bytes is over the {limit}-byte limit")
        return await response.read()  # the length is known and allowed: one read
    data = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            raise StepError(f"response body is over the {limit}-byte limit")
    return bytes(data)
