"""The coordinate-system rule shared by station uploads and demand layers."""

import pytest

from geodata.crs import CoordinateSystem
from stations.domain.uploads import CrsRequiredError, file_crs


def test_file_crs_named_else_geojson_wgs84_else_refused_with_the_callers_help():
    assert file_crs(" gcj02 ", format="csv") is CoordinateSystem.GCJ02
    assert file_crs("", format="geojson") is CoordinateSystem.WGS84
    assert file_crs(None, format="geojson", geojson_crs="cgcs2000").value == "cgcs2000"
    with pytest.raises(CrsRequiredError, match="demand help"):
        file_crs(None, format="geojson", geojson_crs=None, help="demand help")
    with pytest.raises(CrsRequiredError, match="demand help"):
        file_crs(None, format="xlsx", help="demand help")
