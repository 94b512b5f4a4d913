"""Mapping commands refuse to write over their inputs, and refuse files that are not mask maps."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

from smallmines_classic import MAP_NODATA, change_map, mined_area, mined_polygons, mosaic_tiles, predict_scene
from smallmines_classic.cli import main
from tests.io.test_dataset import tiny_copy


def write_map(path, band, transform, *, crs="EPSG:32630", nodata=MAP_NODATA, description=None):
    band = np.atleast_3d(band.T).T if band.ndim == 2 else band
    with rasterio.open(path, "w", driver="GTiff", width=band.shape[2], height=band.shape[1], count=band.shape[0],
                       dtype=band.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(band)
        if description:
            dst.set_band_description(1, description)
    return path


@pytest.fixture
def maps(tmp_path, twin):
    mask = np.zeros((64, 64), np.uint8)
    mask[:10, :20] = 1
    mask[60:] = MAP_NODATA
    later = mask.copy()
    later[20:30, :30] = 1
    later[:5, :5] = 0
    return {name: write_map(tmp_path / f"{name}.tif", band, twin.transforms[0])
            for name, band in (("old", mask), ("new", later))}


def digests(*paths):
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


def test_change_and_polygons_refuse_to_overwrite_an_input_by_path_or_link(maps, tmp_path):
    before = digests(maps["old"], maps["new"])
    os.link(maps["old"], tmp_path / "hard.tif")
    os.symlink(maps["new"], tmp_path / "soft.tif")
    for out in (maps["old"], maps["new"], tmp_path / "hard.tif", tmp_path / "soft.tif",
                tmp_path / "sub" / ".." / "old.tif"):
        with pytest.raises(ValueError, match=r"the output .* is the input .*: writing it would destroy the input"):
            change_map(maps["old"], maps["new"], out)
    os.symlink(maps["old"], tmp_path / "old.geojson")
    with pytest.raises(ValueError, match="is the input"):
        mined_polygons(maps["old"], tmp_path / "old.geojson")
    assert digests(maps["old"], maps["new"]) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.tif", "new.tif", "old.geojson", "old.tif", "soft.tif"]


class _OneBandModel:
    """Enough of a fitted segmenter for predict_scene; fails if it is ever asked to predict."""
    band_names_ = ("B04",)
    threshold = 0.5

    def predict_proba(self, X, band_names=None):
        raise AssertionError("nothing should be predicted")


def test_predict_and_mosaic_refuse_to_overwrite_the_scene_or_a_tile_behind_it(tmp_path, twin_root):
    root = tiny_copy(twin_root, tmp_path, tiles=(1, 2))
    tile = root / "2016/IMAGE/IMG_GH_0002_2016.tif"
    before = digests(tile)
    scene = mosaic_tiles(root, 2016, tmp_path / "scene.vrt")
    for out in (scene, tile):
        with pytest.raises(ValueError, match="is the input"):
            predict_scene(_OneBandModel(), scene, out, progress=False)
    with pytest.raises(ValueError, match=f"the output {tile} is the input"):
        mosaic_tiles(root, 2016, tile)
    assert digests(tile) == before


def test_cli_refuses_an_output_that_is_an_input_in_one_line(maps, tmp_path, twin_root, capsys):
    model = tmp_path / "rf.skops"
    model.write_bytes(b"not read: the check comes first")
    before = digests(maps["old"], model)
    os.symlink(maps["new"], tmp_path / "new.gpkg")
    for argv in (["change", maps["old"], maps["new"], "-o", maps["old"]],
                 ["polygons", maps["new"], "-o", tmp_path / "new.gpkg"],
                 ["predict", model, maps["old"], "-o", model],
                 ["evaluate", model, "--data", twin_root, "--table", model],
                 ["evaluate", model, "--data", twin_root, "--table", twin_root / "train_test_splits_2016.csv"],
                 ["train", twin_root, "-o", twin_root]):
        assert main(["-q", *map(str, argv)]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"smallmines {argv[0]}: error: the output ") and "is the input" in err
        assert err.count("\n") == 1, err
    assert digests(maps["old"], model) == before


def test_files_that_are_not_mask_maps_are_refused(maps, tmp_path, twin_root, twin, capsys):
    image = twin_root / "2016/IMAGE/IMG_GH_0001_2016.tif"
    grey = write_map(tmp_path / "grey.tif", np.arange(64 * 64).reshape(64, 64).astype(np.uint8), twin.transforms[0],
                     nodata=None)
    zero_nodata = write_map(tmp_path / "zero.tif", np.ones((64, 64), np.uint8), twin.transforms[0], nodata=0)
    wide = write_map(tmp_path / "wide.tif", np.ones((64, 64), np.uint16), twin.transforms[0])
    change_map(maps["old"], maps["new"], tmp_path / "change.tif")
    bare_change = write_map(tmp_path / "bare.tif", rasterio.open(tmp_path / "change.tif").read(1), twin.transforms[0])
    cases = [
        (image, r"IMG_GH_0001_2016.tif is not a mask map \(band 1 uint8: 0 background, 1 mining, 255 nodata.*\): "
                r"it has 13 band\(s\) of float32"),
        (grey, r"grey.tif is not a mask map .*: band 1 holds value\(s\) \[2, 3, 4, .*\] and declares no nodata"),
        (zero_nodata, r"zero.tif is not a mask map .*: its nodata value is 0.0"),
        (wide, r"wide.tif is not a mask map .*: it has 1 band\(s\) of uint16"),
        (tmp_path / "change.tif",
         r"change.tif is a change map \(0 never mined, 1 new, 2 persistent, 3 no longer mined\), not a mask map"),
        (bare_change, r"bare.tif is not a mask map .*: band 1 holds value\(s\) \[2, 3\] \(a change map's classes\?\)"),
        (tmp_path / "absent.tif", "cannot read map .*absent.tif"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            mined_area(path)
        with pytest.raises(ValueError, match=message):
            change_map(maps["old"], path, tmp_path / "out.tif")
        with pytest.raises(ValueError, match=message):
            mined_polygons(path, tmp_path / "out.geojson")
    assert not (tmp_path / "out.tif").exists() and not (tmp_path / "out.geojson").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or p.is_dir()]  # no temporaries left
    assert main(["change", str(maps["old"]), str(image), "-o", str(tmp_path / "out.tif")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smallmines change: error: ") and "is not a mask map" in err and err.count("\n") == 1
    # A dataset mask (no nodata declared, values 0 / 1) is a map.
    mask = twin_root / "2016/MASK/MASK_GH_0001_2016.tif"
    assert mined_area(mask)["pixels"] == int(rasterio.open(mask).read(1).sum())
