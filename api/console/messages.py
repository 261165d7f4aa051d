"""The Chinese line a console page shows for a domain error (the same error the JSON API
reports as problem+json; its Chinese explanation lives in api/problem_docs.py)."""

from __future__ import annotations

import re

from api.problem_docs import EXPLANATIONS
from stations.domain.validation import ValidationError


def is_chinese(text: str) -> bool:
    """Whether ``text`` is a Chinese sentence, not an English one quoting a Chinese name
    ("渝中区总工会 may not change stations of …"): Chinese characters at least a third as
    many as Latin letters (codes such as ``district:500103`` in a Chinese sentence are fine)."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk > 0 and cjk * 3 >= latin


# A message's English gloss: last, in brackets, with English words ("只有……（渝中区总工会
# may not change …）"); a bracketed code (district:500103) or Chinese aside stays.
_LAST_BRACKETS = re.compile(r"\s*[（(]([^（()）]*)[）)]\s*$")
_ENGLISH_WORDS = re.compile(r"[A-Za-z]+ [A-Za-z]+")


def chinese_part(text: str) -> str:
    """A Chinese-first message (中文（English）) without its English gloss: what a person in
    the console reads (the JSON API keeps both)."""
    last = _LAST_BRACKETS.search(text)
    if last is None or not _ENGLISH_WORDS.search(last[1]) or last.start() == 0:
        return text
    return text[: last.start()]


def problem_text(exc: Exception, code: str | None = None) -> str:
    """What went wrong, in Chinese, for a person: the error's own message where it is
    Chinese, else the Chinese explanation of its problem code."""
    if isinstance(exc, ValidationError):
        return "；".join(p.message for p in exc.problems) or "填写的内容有误"
    text = str(exc)
    if is_chinese(text):
        return chinese_part(text)
    explained = EXPLANATIONS.get(str(code or getattr(exc, "code", "")))
    if explained is not None:
        return f"{explained.happened_zh}{explained.fix_zh}"
    return text or "操作未能完成"


# Where the API's explanation speaks of the API (tokens, /v1 URLs, /docs), a person in the
# console reads this instead.
CONSOLE_LINES = {
    "forbidden": "你的工会无权查看或修改这项内容：区县工会只能管理本区县内自己的驿站，"
    "产业工会只能管理自己的驿站。如需处理，请联系所属工会或市总工会。",
    "unauthorized": "请先登录。",
    "not_found": "找不到这个页面或内容，它可能已被删除。请从工作台的菜单进入。",
    "station_not_found": "找不到这个驿站，它可能已被删除。请回到驿站列表查找。",
    "upload_not_found": "找不到这次上传：它可能已过期被清理（未提交的检查结果保留 7 天）。"
    "请重新上传。",
    "feedback_not_found": "找不到这条骑手反馈，它可能已被处理或删除。",
    "account_not_found": "没有这个账号。",
    "invalid_parameter": "链接中的参数有误。请从工作台的页面进入，不要手动修改地址栏。",
    "bad_request": "请求无法读取。请刷新页面后重试。",
    "method_not_allowed": "这个地址不能这样打开。请从工作台的页面进入。",
    "payload_too_large": "提交的内容太大，未保存任何内容。请拆分文件后分批上传。",
}


def console_text(exc: Exception | None, code: str) -> str:
    """The line a console page shows for an error the route did not handle itself: the
    error's own Chinese message, else the console's line for its code, else the API's
    Chinese explanation."""
    if exc is not None and not isinstance(exc, ValidationError):
        text = str(exc)
        if is_chinese(text):
            return chinese_part(text)
    if code in CONSOLE_LINES:
        return CONSOLE_LINES[code]
    return problem_text(exc, code) if exc is not None else "操作未能完成"
