"""The spot-check checklist: the shipped file, a union's own, broken files, amenities."""

from __future__ import annotations

from pathlib import Path

import pytest

from stations.domain.checklist import (
    GROUPS,
    SHIPPED,
    SIX_MUSTS,
    ChecklistError,
    checklist_for,
    load_checklist,
    parse_checklist,
)
from stations.domain.model import AMENITY_LABELS
from tests.builders import make_station

SMALL = """
[amenities]
label_template = "设备：{amenity} 能用"
group = "设施"
deadline_days = 10

[[item]]
code = "signage"
label = "统一标识"
group = "六有"
deadline_days = 5
""" + "".join(
    f'\n[[item]]\ncode = "{code}"\nlabel = "{code} 项"\ngroup = "六有"\ndeadline_days = 5\n'
    for code in (*SIX_MUSTS[1:], "open_as_posted")
)


def test_the_shipped_file_loads_with_every_six_musts_item_and_the_others():
    checklist = load_checklist()
    codes = [i.code for i in checklist.items]
    for code in (*SIX_MUSTS, "open_as_posted", "hygiene", "first_aid_in_date", "fire_safety"):
        assert code in codes
    assert {i.group for i in checklist.items} <= set(GROUPS)
    six = [i for i in checklist.items if i.group == "六有"]
    assert [i.code for i in six] == list(SIX_MUSTS)
    assert all(i.label and 1 <= i.deadline_days <= 365 for i in checklist.items)
    assert "工会驿站" in next(i.label for i in checklist.items if i.code == "findable_on_map")
    assert len(checklist.version) == 16


def test_a_unions_file_replaces_the_shipped_one_and_its_version_is_its_bytes(tmp_path: Path):
    path = tmp_path / "ours.toml"
    path.write_text(SMALL, encoding="utf-8")
    ours = load_checklist(path)
    assert ours.items[0].label == "统一标识" and "hygiene" not in [i.code for i in ours.items]
    assert ours.version != load_checklist().version
    assert parse_checklist(SMALL.encode()).version == ours.version
    assert ours.amenity_item("toilet").label == "设备：厕所 能用"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda t: t.replace('code = "signage"\n', ""), "item 1: field 'code' is missing"),
        (lambda t: t.replace('label = "统一标识"\n', ""), "item 1 (signage): field 'label'"),
        (lambda t: t.replace("deadline_days = 5", 'deadline_days = "5"', 1), "whole number"),
        (lambda t: t.replace("deadline_days = 5", "deadline_days = 0", 1), "1 to 365"),
        (lambda t: t.replace('group = "六有"', 'group = "其他"', 1), "group must be one of"),
        (lambda t: t.replace('code = "signage"', 'code = "Sign age"'), "lower-case"),
        (lambda t: t.replace('code = "siting"', 'code = "signage"'), "appears twice"),
        (lambda t: t.replace('code = "siting"', 'code = "site"'), "siting are missing"),
        (lambda t: t.replace("{amenity}", "x"), "must contain {amenity}"),
        (lambda t: t.replace("[amenities]", "[amenity_rules]"), "unknown top-level"),
        (lambda t: t.replace('label = "统一标识"', 'label = "统一标识'), "line 9"),
        (lambda t: t.replace('label = "统一标识"', 'label = "统一标识"\nweight = 3'), "weight"),
    ],
)
def test_a_broken_or_incomplete_file_is_a_clear_error(change, said):
    with pytest.raises(ChecklistError) as refused:
        parse_checklist(change(SMALL).encode(), name="ours.toml")
    assert said in str(refused.value)
    assert str(refused.value).startswith("ours.toml")


def test_an_unreadable_file_names_itself(tmp_path: Path):
    with pytest.raises(ChecklistError, match="cannot be read"):
        load_checklist(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ChecklistError, match="not UTF-8"):
        load_checklist(bad)


def test_each_amenity_the_record_claims_is_an_item(districts):
    checklist = load_checklist()
    station = make_station(districts, amenities="热水、厕所")
    items = checklist_for(station, checklist)
    assert items[: len(checklist.items)] == checklist.items
    extra = items[len(checklist.items) :]
    assert [i.code for i in extra] == ["amenity.hot_water", "amenity.toilet"]
    assert extra[0].label == f"设施：{AMENITY_LABELS['hot_water']} 在且可用"
    assert {i.group for i in extra} == {"设施"}
    assert checklist_for(None, checklist) == checklist.items


def test_the_shipped_file_is_in_the_package():
    assert SHIPPED.name == "checklist.toml" and SHIPPED.is_file()
