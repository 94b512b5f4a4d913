import pytest

from smallmines_classic import BAND_NAMES, band_indices, resolve_bands


def test_band_order_matches_the_dataset():
    assert BAND_NAMES == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "VV", "VH", "DEM")


@pytest.mark.parametrize(
    "spec, indices",
    [
        ("rgb", [2, 1, 0]),
        ("rgb+", [0, 1, 2, 7, 8, 9]),
        ("s1", [10, 11]),
        (["blue", "nir08", "swir1", "vv", "dem"], [0, 7, 8, 10, 12]),
        (["B2", "Swir2"], [0, 9]),
    ],
)
def test_names_and_sets_map_to_the_papers_indices(spec, indices):
    assert band_indices(spec) == indices


def test_unknown_band_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown band 'B13'.*B8A.*rgb\\+"):
        resolve_bands(["B02", "B13"])


def test_band_named_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        resolve_bands(["blue", "B02"])


def test_missing_band_says_expected_and_got():
    with pytest.raises(ValueError, match=r"bands \[.*'B8A'.*\] expected, but the input holds \['B02', 'B03', 'B04'\] "
                                         r"\(missing \['B8A', 'B11', 'B12'\]\)"):
        band_indices("rgb+", ["B02", "B03", "B04"])
