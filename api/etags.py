"""Entity tags for reads (RFC 9110): a response's tag from its body, and 304 Not Modified
when the client already holds it (``If-None-Match``)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

# Headers a 304 repeats from the response it stands for (RFC 9110 15.4.5).
_KEPT = ("ETag", "Cache-Control", "Vary", "Content-Location", "Expires")


def body_tag(body: bytes, *, version: int | None = None) -> str:
    """A strong tag: a hash of the body; with ``version``, ``"<version>.<8 hex>"`` (a
    station's: its leading number is the version that If-Match on PATCH and DELETE reads)."""
    digest = hashlib.sha256(body).hexdigest()
    return f'"{version}.{digest[:8]}"' if version is not None else f'"{digest[:16]}"'


def none_match(header: str | None, tag: str) -> bool:
    """Whether ``If-None-Match: header`` names ``tag`` (weak comparison, as RFC 9110 asks
    for If-None-Match: ``W/"x"`` matches ``"x"``); ``*`` matches any."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in header.split(","))


def tagged(request: Request, response: Response, *, version: int | None = None) -> Response:
    """``response`` with its ETag, or 304 with only that tag (and its caching headers) when
    the request's If-None-Match names it."""
    tag = body_tag(bytes(response.body), version=version)
    response.headers["ETag"] = tag
    if not none_match(request.headers.get("if-none-match"), tag):
        return response
    kept = {k: response.headers[k] for k in _KEPT if k in response.headers}
    return Response(status_code=304, headers=kept)
