"""uvicorn's HTTP protocols, answering a request its parser refuses with problem+json.

A request line or header block that the HTTP parser cannot read never reaches the app: a
URL of tens of kilobytes, or raw (not percent-encoded) UTF-8 in the query such as
``?demand=示例``. uvicorn answers those itself with a text/plain 400; these subclasses
answer the same 400 as ``/problems/bad_request``, like every other error of the API.
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEMS

_DETAIL = (
    "the HTTP request could not be read: its line or headers are malformed or too long. "
    "Percent-encode non-ASCII text in the URL (demand=示例 is sent as "
    "demand=%E7%A4%BA%E4%BE%8B; browsers and HTTP libraries do this themselves) and keep "
    "the URL short"
)


def unreadable_request_body() -> bytes:
    """The problem+json document of a request the HTTP parser refused."""
    status, title = PROBLEMS["bad_request"]
    return orjson.dumps(
        {
            "type": "/problems/bad_request",
            "title": title,
            "status": status,
            "detail": _DETAIL,
            "code": "bad_request",
        }
    )


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (its default, and ``yizhan serve``'s base: see
    :mod:`api.server`), with a problem+json 400."""

    def send_400_response(self, msg: str) -> None:
        body = unreadable_request_body()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
