"""The Chinese line a console page shows for a domain error (the same error the JSON API
reports as problem+json; its Chinese explanation lives in api/problem_docs.py)."""

from __future__ import annotations

from api.problem_docs import EXPLANATIONS
from stations.domain.validation import ValidationError


def problem_text(exc: Exception, code: str | None = None) -> str:
    """What went wrong, in Chinese, for a person: the error's own Chinese message where it
    has one, else the explanation of its problem code."""
    if isinstance(exc, ValidationError):
        return "；".join(p.message for p in exc.problems) or "填写的内容有误"
    text = str(exc)
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return text
    explained = EXPLANATIONS.get(str(code or getattr(exc, "code", "")))
    if explained is not None:
        return f"{explained.happened_zh}{explained.fix_zh}"
    return text or "操作未能完成"
