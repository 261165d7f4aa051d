"""Every problem type is explained at /problems/<code>: what happened, how to fix it."""

from __future__ import annotations

import re

import pytest

from api.problem_docs import EXPLANATIONS
from api.problems import PROBLEMS
from stations.storage.sqlite import SQLiteStore

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


def test_every_problem_code_has_an_explanation():
    assert sorted(set(PROBLEMS) - set(EXPLANATIONS)) == []
    assert sorted(set(EXPLANATIONS) - set(PROBLEMS)) == []  # none for a code that is gone


@pytest.mark.parametrize("code", sorted(EXPLANATIONS))
def test_each_explanation_says_what_happened_and_how_to_fix_it_in_both_languages(code):
    e = EXPLANATIONS[code]
    for zh in (e.happened_zh, e.fix_zh):
        assert CJK.search(zh), (code, zh)
    for en in (e.happened_en, e.fix_en):
        # English: mostly Latin letters (a Chinese example such as 24小时 may be quoted)
        assert len(re.findall("[A-Za-z]", en)) > 3 * len(CJK.findall(en)), (code, en)
    assert e.happened_zh != e.fix_zh and e.happened_en != e.fix_en


def test_the_problem_page_explains_it(client):
    r = client.get("/problems/stale_write")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "/problems/stale_write"
    assert body["status"] == 409
    assert "If-Match" not in body["explanation"]["zh"]["what_happened"]
    assert "ETag" in body["explanation"]["en"]["how_to_fix"]
    assert "别人" in body["explanation"]["zh"]["what_happened"]
