"""Real aiohttp servers on 127.0.0.1 for agent tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def chat_server(
    answers: list[str], status: list[int] | None = None
) -> tuple[web.Application, list[dict[str, Any]]]:
    """A minimal OpenAI-compatible /v1/chat/completions: answers in order."""
    seen: list[dict[str, Any]] = []
    statuses = list(status or [])

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization")})
        if statuses:
            code = statuses.pop(0)
            if code != 200:
                return web.json_response({"error": {"message": "slow down"}}, status=code)
        content = answers.pop(0)
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app, seen
