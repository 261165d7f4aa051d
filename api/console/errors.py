"""How the console answers what goes wrong: a page in Chinese, never problem+json or a trace.

Signed out → the sign-in form (and back afterwards); a stale or foreign form → 403; a domain
error a route did not catch (another union's station, no such upload…) → its Chinese line.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from api.console.messages import console_text
from api.console.session import CsrfError, LoginRequiredError, signed_in
from api.console.templating import render

HEADINGS = {
    400: "请求有误",
    401: "请先登录",
    403: "无权操作",
    404: "找不到",
    409: "有冲突",
    413: "文件太大",
    422: "填写有误",
    429: "请稍后再试",
    503: "暂时无法使用",
}


def is_console(request: Request) -> bool:
    path = request.url.path
    return path == "/console" or path.startswith("/console/")


def error_page(request: Request, status: int, message: str) -> Response:
    heading = HEADINGS.get(status, "出错了")
    # Back to the page the person came from, if it is one of ours (a Referer is absolute).
    back = request.headers.get("referer") or ""
    if not back.startswith(str(request.base_url)):
        back = "/console"
    return render(
        request,
        "error.html",
        user=signed_in(request),
        status_code=status,
        heading=heading,
        message=message,
        back_url=back,
    )


def page_for_problem(
    request: Request, exc: Exception, code: str, status: int, detail: str
) -> Response | None:
    """The console's page for a domain error on a console path; None elsewhere (the API's
    problem+json). Internal errors get a plain Chinese line (the log has the rest)."""
    if not is_console(request):
        return None
    if status >= 500 and code == "internal_error":
        return error_page(request, status, "系统出错了，已记录。请稍后再试，或联系市总工会。")
    page = error_page(request, status, console_text(exc, code))
    wait = getattr(exc, "retry_after_s", None)  # busy, too many at once: when to ask again
    if isinstance(wait, int):
        page.headers["Retry-After"] = str(wait)
    return page


# A check cannot be sent in parts: what its form's clerk can do instead.
_CHECK_TOO_LARGE = "照片合计太大，抽查结果未保存。请返回表单，少选几张照片或压缩后重新提交。"


def page_for_too_large(request: Request, line: str) -> Response | None:
    """The console's 413 page for a body over the limit (api/limits.py), on its paths."""
    if not is_console(request):
        return None
    if request.url.path == "/console/inspections":
        line = f"{line.split('。', 1)[0]}。{_CHECK_TOO_LARGE}"
    return error_page(request, 413, line)


def install(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequiredError)
        return RedirectResponse(exc.next_url, status_code=303)

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        return error_page(
            request, 403, "表单已过期，或请求不是从本站页面提交的。请刷新页面后重新提交。"
        )

    app.add_exception_handler(LoginRequiredError, login_required)
    app.add_exception_handler(CsrfError, csrf_failed)
