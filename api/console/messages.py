"""The Chinese line a console page shows for a domain error (the same error the JSON API
reports as problem+json; its Chinese explanation lives in api/problem_docs.py)."""

from __future__ import annotations

from api.problem_docs import EXPLANATIONS
from stations.domain.validation import ValidationError


def is_chinese(text: str) -> bool:
    """Whether ``text`` is a Chinese sentence, not an English one quoting a Chinese name
    ("渝中区总工会 may not change stations of …"): Chinese characters at least a third as
    many as Latin letters (codes such as ``district:500103`` in a Chinese sentence are fine)."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk > 0 and cjk * 3 >= latin


def problem_text(exc: Exception, code: str | None = None) -> str:
    """What went wrong, in Chinese, for a person: the error's own message where it is
    Chinese, else the Chinese explanation of its problem code."""
    if isinstance(exc, ValidationError):
        return "；".join(p.message for p in exc.problems) or "填写的内容有误"
    text = str(exc)
    if is_chinese(text):
        return text
    explained = EXPLANATIONS.get(str(code or getattr(exc, "code", "")))
    if explained is not None:
        return f"{explained.happened_zh}{explained.fix_zh}"
    return text or "操作未能完成"
