"""Refuse request bodies over a size before anything reads them."""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

# A page to answer a refused body with instead of problem+json (the console's on its own
# paths): given the request and the Chinese line; None for problem+json.
TooLargePage = Callable[[Request, str], Response | None]


class _TooLarge(HTTPException):
    # An HTTPException, because FastAPI re-raises those from body parsing as they are.
    def __init__(self, limit_text: str) -> None:
        super().__init__(413, f"the request is over the limit of {limit_text}")


class BodySizeLimit:
    """Pure ASGI middleware: a declared length over the limit gets 413 at once; a body
    that turns out longer than the limit while streaming is cut off with 413 too."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, page_for: TooLargePage | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.page_for = page_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        limit_text = f"{self.max_bytes / 1024 / 1024:.0f} MB"
        # At most 18 digits are read as a number (Python refuses int() of over 4,300).
        size = int(declared) if declared and declared.isdigit() and len(declared) <= 18 else None
        if declared is not None and declared.isdigit() and (size is None or size > self.max_bytes):
            page = None
            if self.page_for is not None:
                line = f"提交的内容超过 {limit_text} 的上限，未保存任何内容。请拆分文件后分批上传。"
                page = self.page_for(Request(scope), line)
            response = page or problem_response(
                "payload_too_large",
                f"the request is {f'{size:,}' if size is not None else 'over 10¹⁸'} bytes; "
                f"the limit is {limit_text} "
                "(split the file, or ask the city union to raise YIZHAN_MAX_UPLOAD_BYTES)",
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(limit_text)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge as exc:
            if started:
                raise
            response = problem_response(
                "payload_too_large", str(exc.detail), instance=scope.get("path")
            )
            await response(scope, receive, send)
