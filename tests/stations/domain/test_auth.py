"""Every permission of domain/auth, as a table: role × action × owner -> allowed."""

from __future__ import annotations

import pytest

from stations.domain.auth import (
    Principal,
    Role,
    check_case_handle,
    check_demand_create,
    check_demand_places,
    check_event_write,
    check_feedback_resolve,
    check_planning_view,
    check_station_write,
    check_token_admin,
    check_upload_access,
    owner_to_create,
)
from stations.domain.errors import ForbiddenError
from stations.domain.model import Owner

CITY = Principal("t1", "市总工会", Role.ADMIN, None)
YUZHONG = Principal("t2", "渝中区总工会", Role.DISTRICT, "500103")
JIANGBEI = Principal("t3", "江北区总工会", Role.DISTRICT, "500105")
TRANSPORT = Principal("t4", "交通工会", Role.INDUSTRY, "transport")
YZ = "district:500103"


@pytest.mark.parametrize(
    ("by", "owner", "allowed"),
    [
        (CITY, YZ, True),
        (YUZHONG, YZ, True),
        (JIANGBEI, YZ, False),
        (TRANSPORT, YZ, False),
        (TRANSPORT, "industry:transport", True),
        (YUZHONG, "industry:transport", False),
    ],
)
def test_stations_uploads_and_reports_are_the_owners_and_the_citys(by, owner, allowed):
    assert by.may_write(Owner.parse(owner)) is allowed
    assert by.may_use_upload(owner) is allowed
    assert by.may_resolve_feedback(owner) is allowed
    for check in (
        lambda: check_station_write(by, Owner.parse(owner)),
        lambda: check_upload_access(by, owner),
        lambda: check_feedback_resolve(by, owner),
    ):
        if allowed:
            check()
        else:
            with pytest.raises(ForbiddenError):
                check()


def test_a_city_upload_is_the_citys_only():
    assert CITY.may_use_upload(None)
    assert not YUZHONG.may_use_upload(None)


def test_a_new_station_is_the_unions_own():
    assert owner_to_create(YUZHONG, None) == YZ
    assert owner_to_create(YUZHONG, "") == YZ
    assert owner_to_create(YUZHONG, YZ) == YZ
    with pytest.raises(ForbiddenError, match="may only create stations of district:500103"):
        owner_to_create(YUZHONG, "district:500105")
    assert owner_to_create(CITY, "district:500105") is None  # the city names any
    assert owner_to_create(CITY, None) is None


def test_reports_read_are_the_unions_own():
    assert CITY.feedback_owner is None
    assert YUZHONG.feedback_owner == YZ
    assert TRANSPORT.feedback_owner == "industry:transport"


def test_only_the_city_manages_tokens():
    check_token_admin(CITY)
    for by in (YUZHONG, TRANSPORT):
        assert not by.may_manage_tokens
        with pytest.raises(ForbiddenError):
            check_token_admin(by)


@pytest.mark.parametrize(
    ("by", "create", "change_city", "change_yuzhong", "in_yuzhong", "in_jiangbei"),
    [
        (CITY, True, True, True, True, True),
        (YUZHONG, True, False, True, True, False),
        (JIANGBEI, True, False, False, False, True),
        (TRANSPORT, False, False, False, True, True),
    ],
)
def test_demand_layers(by, create, change_city, change_yuzhong, in_yuzhong, in_jiangbei):
    assert by.may_create_demand is create
    assert by.may_change_demand("city") is change_city
    assert by.may_change_demand(YZ) is change_yuzhong
    assert by.may_place_demand_in("500103") is in_yuzhong
    assert by.may_place_demand_in("500105") is in_jiangbei


@pytest.mark.parametrize(
    "refused",
    [
        lambda: check_station_write(YUZHONG, Owner.parse("district:500105")),
        lambda: owner_to_create(YUZHONG, "district:500105"),
        lambda: check_event_write(YUZHONG, "district:500105"),
        lambda: check_upload_access(YUZHONG, "district:500105"),
        lambda: check_feedback_resolve(YUZHONG, "district:500105"),
        lambda: check_case_handle(YUZHONG, "district:500105"),
        lambda: check_planning_view(YUZHONG, "500105"),
        lambda: check_token_admin(YUZHONG),
        lambda: check_demand_create(TRANSPORT),
        lambda: check_demand_places(YUZHONG, lambda: ["500105"]),
    ],
)
def test_a_refusal_says_it_in_chinese_first(refused):
    """中文（English）: a clerk reads the Chinese; the English follows in brackets."""
    with pytest.raises(ForbiddenError) as caught:
        refused()
    text = str(caught.value)
    assert "\u4e00" <= text[0] <= "\u9fff", text
    chinese, _, english = text.rpartition("（")
    assert chinese and english.endswith("）"), text
