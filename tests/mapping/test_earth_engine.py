"""Scenes as Earth Engine exports them: EPSG:4326, float64, band names in the band descriptions, extra bands.

An export such as the script in docs/your-area.md writes (``Export.image.toDrive`` with ``scale: 10``, ``crs:
'EPSG:4326'``, ``fileFormat: 'GeoTIFF'``): one float64 GeoTIFF (Earth Engine casts the bands to one type, and a
median or an index makes it double), north-up in EPSG:4326 with pixels of 8.983152841195215e-05 degrees (10 m of the
equator), tiled 256 x 256, each band's name in its description; masked pixels written as 0 with no nodata declared,
unless the export sets ``formatOptions: {noData: ...}``. Its pixel values here are the twin's, so that the map can
be checked against the same pixels mapped on the twin's own grid.
"""

import warnings

import numpy as np
import pytest
import rasterio

from smallmines_classic import MAP_NODATA, RandomForestSegmenter, mined_area, mosaic_tiles, predict_scene
from smallmines_classic.assessment import ChipScene
from smallmines_classic.cli import main
from smallmines_classic.errors import BandError, DomainWarning, SmallminesWarning
from smallmines_classic.mapping.scene import scene_band_names
from tests.helpers import EE_TRANSFORM, one_error_line

#: The bands of the export in docs/your-area.md, in its order, as Earth Engine names them (COPERNICUS/S2_SR_HARMONIZED,
#: COPERNICUS/S1_GRD, COPERNICUS/DEM/GLO30) and two indices the script adds.
EE_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "VV", "VH", "DEM", "NDVI", "NDWI")
#: The bands a model on the paper's RGB+ set does not read, by their SmallMinesDS names where they have one.
IGNORED = ["B05", "B06", "B07", "B08", "VV", "VH", "DEM", "NDVI", "NDWI"]


def write_ee_export(path, image, *, bands=EE_BANDS, masked=None, masked_as=0.0, nodata=None, described=True):
    """An Earth Engine GeoTIFF export of the 13 SmallMinesDS bands ``image`` (13, H, W), with NDVI and NDWI.

    ``masked`` (a boolean H x W) pixels are written as ``masked_as`` in every band: 0 as Earth Engine writes them
    by default (no nodata declared), or the export's ``noData`` (declared as ``nodata``).
    """
    named = dict(zip(EE_BANDS, image.astype(np.float64)))
    named["NDVI"] = (named["B8"] - named["B4"]) / (named["B8"] + named["B4"])
    named["NDWI"] = (named["B3"] - named["B8"]) / (named["B3"] + named["B8"])
    data = np.stack([named[b] for b in bands])
    if masked is not None:
        data[:, masked] = masked_as
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=len(bands),
                       dtype="float64", crs="EPSG:4326", transform=EE_TRANSFORM, nodata=nodata, tiled=True,
                       blockxsize=256, blockysize=256, compress="lzw") as dst:
        dst.write(data)
        if described:
            dst.descriptions = bands
    return path


@pytest.fixture(scope="module")
def model(twin):
    return RandomForestSegmenter(bands="rgb+", n_estimators=8, max_pixels=20_000, random_state=0).fit(twin.images,
                                                                                                      twin.masks)


@pytest.fixture(scope="module")
def scene(twin_root, tmp_path_factory):
    """The twin's 2016 tiles as one 13-band scene on their own UTM grid, and its pixels."""
    vrt = mosaic_tiles(twin_root, 2016, tmp_path_factory.mktemp("ee") / "scene_2016.vrt")
    with rasterio.open(vrt) as src:
        return vrt, src.read()


def _mapped(model, path, out, **kwargs):
    """``predict_scene``'s map of ``path`` and the smallmines warnings it gave (domain warnings aside)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_scene(model, path, out, window_size=200, overlap=16, progress=False, **kwargs)
    with rasterio.open(out) as written:
        return written, written.read(1), [str(w.message) for w in caught if issubclass(w.category, SmallminesWarning)
                                          and not issubclass(w.category, DomainWarning)]


def test_an_export_is_mapped_by_band_name_like_the_same_pixels_on_their_own_grid(model, scene, tmp_path):
    vrt, image = scene
    export = write_ee_export(tmp_path / "offin_2022.tif", image)
    written, got, said = _mapped(model, export, tmp_path / "map.tif")
    assert written.crs == "EPSG:4326" and written.transform == EE_TRANSFORM and written.shape == image.shape[1:]
    _, expected, _ = _mapped(model, vrt, tmp_path / "utm.tif")
    np.testing.assert_array_equal(got, expected)
    assert set(np.unique(got)) == {0, 1}
    # one line naming every band left out, the unknown NDVI and NDWI among them
    assert said == [f"{export}: bands {IGNORED} are ignored: the model reads "
                    "['B02', 'B03', 'B04', 'B8A', 'B11', 'B12']"]


def test_a_scene_of_smallminesds_bands_only_needs_no_word_about_those_the_model_does_not_read(model, scene, tmp_path):
    *_, said = _mapped(model, scene[0], tmp_path / "map.tif")
    assert said == []


@pytest.mark.parametrize("masked_as, nodata", [(0.0, None), (-9999.0, -9999.0), (np.nan, None)],
                         ids=["zero as Earth Engine writes it", "formatOptions noData -9999", "NaN"])
def test_masked_pixels_of_an_export_are_no_data_in_the_map(model, scene, tmp_path, masked_as, nodata):
    image = scene[1]
    masked = np.zeros(image.shape[1:], bool)
    masked[400:] = True      # outside the export's region, inside its bounding box
    masked[:50, :30] = True
    export = write_ee_export(tmp_path / "export.tif", image, masked=masked, masked_as=masked_as, nodata=nodata)
    _, got, _ = _mapped(model, export, tmp_path / "map.tif")
    assert (got[masked] == MAP_NODATA).all() and np.isin(got[~masked], [0, 1]).all()
    assert mined_area(tmp_path / "map.tif")["nodata"]["pixels"] == masked.sum()


def test_a_zero_in_some_bands_only_is_data(model, scene, tmp_path):
    image = scene[1].copy()
    image[:3, :100] = 0.0    # blue, green and red 0, the other bands not: a (dark) pixel, not a masked one
    _, got, _ = _mapped(model, write_ee_export(tmp_path / "export.tif", image), tmp_path / "map.tif")
    assert np.isin(got, [0, 1]).all()


def test_float64_is_read_as_float32_window_by_window(scene, tmp_path):
    seen = []

    class Recorder:
        band_names_, threshold = ("B04", "B03", "B02"), 0.5

        def predict_proba(self, X, band_names=None):
            seen.append((X.dtype, X.shape))
            return np.zeros((X.shape[0], *X.shape[2:]), np.float32)

    with pytest.warns(SmallminesWarning, match="are ignored"):
        predict_scene(Recorder(), write_ee_export(tmp_path / "export.tif", scene[1]), tmp_path / "map.tif",
                      window_size=128, overlap=8, progress=False)
    assert {dtype for dtype, _ in seen} == {np.dtype("float32")} and len(seen) == 16
    assert max(max(shape[2:]) for _, shape in seen) <= 128 + 2 * 8


def test_band_names_override_the_descriptions_and_name_unnamed_bands(model, scene, tmp_path, capsys):
    export = write_ee_export(tmp_path / "export.tif", scene[1], described=False)
    model_path = model.save(tmp_path / "rf.skops")
    assert main(["-q", "predict", str(model_path), str(export), "-o", str(tmp_path / "map.tif")]) == 1
    assert "export.tif has 15 unnamed bands: pass band_names" in one_error_line(capsys, "predict")
    assert main(["-q", "predict", str(model_path), str(export), "-o", str(tmp_path / "map.tif"),
                 "--band-names", *EE_BANDS]) == 0
    err = capsys.readouterr().err
    assert err == f"smallmines predict: warning: {export}: bands {IGNORED} are ignored: the model reads " \
                  "['B02', 'B03', 'B04', 'B8A', 'B11', 'B12']\n"
    described = write_ee_export(tmp_path / "described.tif", scene[1])
    with rasterio.open(described) as src:  # given names win over the descriptions, in any known spelling
        aliases = ["blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22",
                   "VV", "VH", "elevation", "NDVI", "NDWI"]
        assert scene_band_names(src, aliases) == ("B02", "B03", "B04", "B05", "B06", "B07", "B08",
                                                  "B8A", "B11", "B12", "VV", "VH", "DEM", "NDVI", "NDWI")
        with pytest.raises(BandError, match="described.tif has 15 bands but band_names names 8"):
            scene_band_names(src, EE_BANDS[:8])
        with pytest.raises(BandError, match=r"described.tif: its bands .* name \['B02'\] more than once"):
            scene_band_names(src, ["B2", "blue", *EE_BANDS[2:]])


def test_the_issues_band_list_maps_with_a_model_of_its_bands_and_names_what_another_model_lacks(
        model, twin, scene, tmp_path, capsys):
    """The issue's export: --band-names B02 B03 B04 B08 VV VH NDVI NDWI, once refused with unknown band 'NDVI'."""
    bands = ("B2", "B3", "B4", "B8", "VV", "VH", "NDVI", "NDWI")
    export = write_ee_export(tmp_path / "export.tif", scene[1], bands=bands, described=False)
    rgb = RandomForestSegmenter(bands="rgb", n_estimators=4, max_pixels=5000, random_state=0).fit(twin.images,
                                                                                                   twin.masks)
    names = ["--band-names", "B02", "B03", "B04", "B08", "VV", "VH", "NDVI", "NDWI"]
    out = tmp_path / "map.tif"
    assert main(["-q", "predict", str(rgb.save(tmp_path / "rgb.skops")), str(export), "-o", str(out), *names]) == 0
    assert capsys.readouterr().err == (f"smallmines predict: warning: {export}: bands ['B08', 'VV', 'VH', 'NDVI', "
                                       "'NDWI'] are ignored: the model reads ['B04', 'B03', 'B02']\n")
    assert out.is_file()
    rgb_plus = model.save(tmp_path / "rf.skops")
    assert main(["-q", "predict", str(rgb_plus), str(export), "-o", str(tmp_path / "other.tif"), *names]) == 1
    assert (f"{export}: the model reads bands ['B02', 'B03', 'B04', 'B8A', 'B11', 'B12'], but the scene holds "
            "['B02', 'B03', 'B04', 'B08', 'VV', 'VH', 'NDVI', 'NDWI'] (missing ['B8A', 'B11', 'B12'])"
            in one_error_line(capsys, "predict"))
    assert not (tmp_path / "other.tif").exists()


def test_check_scene_and_the_labelling_chips_read_an_export(model, scene, tmp_path, capsys):
    masked = np.zeros(scene[1].shape[1:], bool)
    masked[:, :10] = True
    export = write_ee_export(tmp_path / "export.tif", scene[1], masked=masked)
    assert main(["check-scene", str(export), "--model", str(model.save(tmp_path / "rf.skops"))]) == 0
    out = capsys.readouterr().out
    assert "every band the model reads looks like its training data" in out and out.count(" ok ") == 6
    chips = ChipScene(export)
    assert chips.band_names == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "VV", "VH",
                                "DEM", "NDVI", "NDWI")
    assert chips.missing == {"true": [], "swir": [], "vv": []}
    chip = chips.read(100, 5, "true")       # the masked columns (0 in every band) are no data, drawn as such
    assert np.isnan(chip[:, :, : 10 - 5 + 32]).all() and np.isfinite(chip[:, :, 10 - 5 + 32:]).all()
