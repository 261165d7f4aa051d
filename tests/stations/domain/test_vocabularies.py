"""Each vocabulary is one table: every code has its label, and what else a code needs."""

import re
from pathlib import Path

from stations.domain.model import (
    AMENITIES,
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    PROVIDER_LABELS,
    STATUS_LABELS,
    Provider,
    Status,
)
from stations.services.demo import AMENITY_SHARE

RIDER_PAGE = Path(__file__).parents[3] / "api" / "rider" / "index.html"


def test_every_member_of_a_vocabulary_has_a_label():
    assert set(STATUS_LABELS) == {s.value for s in Status}
    assert set(PROVIDER_LABELS) == {p.value for p in Provider}
    labels = [*AMENITY_LABELS.values(), *ENTRY_METHOD_LABELS.values(), *STATUS_LABELS.values()]
    assert len(set(labels)) == len(labels)  # a label is read back to one code


def test_every_amenity_has_a_demo_share_and_a_rider_icon():
    # Adding an amenity: its line in model.AMENITY_LABELS, its share in services/demo.py
    # (the sample registry and bench/_common.py draw from it), its icon on the rider page.
    assert set(AMENITY_SHARE) == set(AMENITIES)
    icons = set(re.findall(r'<symbol id="i-([a-z_]+)"', RIDER_PAGE.read_text("utf-8")))
    assert set(AMENITIES) <= icons
