"""A command that needs an optional module names its extra, in both ways to install it, before it prints or writes
anything: checked with each module made to fail to import, on real inputs (the tour's)."""

import json
import sys
from pathlib import Path

import pytest

from smallmines_classic.cli import main

STAC = ("pystac", "odc.stac", "dask.array")
VECTORS = ("shapely", "pyogrio")


def _cases(tour, out):
    folder = tour["out"]
    items, regions, model = folder / "items" / "items.json", folder / "regions.geojson", folder / "model.skops"
    year_map = folder / "monitor" / "2022" / "map.tif"
    record = folder / "monitor" / "monitor.json"   # the box the tour's monitor ran on
    bbox = [str(v) for v in json.loads(record.read_text())["bbox"]] if record.is_file() else ["0", "0", "1", "1"]
    return {
        "composite": (["composite", "--bbox", *bbox, "--year", "2022", "--items", str(items), "-o",
                       str(out / "scene.tif")], STAC),
        "composite --stac": (["composite", "--bbox", *bbox, "--year", "2022", "-o", str(out / "scene.tif")],
                             ("pystac_client", "planetary_computer")),
        "monitor": (["monitor", "--regions", str(regions), "--field", "name", "--years", "2016", "2022", "--model",
                     str(model), "--items", str(items), "-o", str(out / "monitor")], STAC + VECTORS),
        "report": (["report", str(folder / "monitor"), "-o", str(out / "report.html")],
                   ("folium", "jinja2", "shapely")),
        "tour": (["tour", "-o", str(out / "tour"), "--tiles", "4"], STAC + VECTORS + ("folium", "jinja2")),
        "polygons": (["polygons", str(year_map), "-o", str(out / "mines.gpkg")], VECTORS),
        "area": (["area", str(year_map), "--regions", str(regions), "--field", "name"], VECTORS),
        "sample": (["sample", str(year_map), "--n", "20", "--min-per-class", "5", "-o", str(out / "points.gpkg")],
                   ("pyogrio",)),
    }


def _every_case():
    """(command, module) pairs; the inputs' paths come from the session's tour when the test runs."""
    return [(command, module) for command, (_, modules) in _cases({"out": Path()}, Path()).items()
            for module in modules]


@pytest.mark.parametrize("command, module", _every_case())
def test_a_missing_module_names_the_maps_extra_both_ways_and_nothing_is_written(command, module, tour, tmp_path,
                                                                                 monkeypatch, capsys):
    argv, _ = _cases(tour, tmp_path)[command]
    monkeypatch.setitem(sys.modules, module, None)   # as if it were not installed
    assert main(argv) == 1   # not quiet: whatever the command would print before the error shows
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip()   # one line: nothing before it (composite's job size, a progress bar...)
    assert error.startswith(f"smallmines {argv[0]}: error: this needs {module.split('.')[0]}, which is not installed")
    assert error.endswith("install the maps extra: in a clone of the repository pip install -e '.[maps]', "
                          "otherwise pip install 'smallmines[maps]'")
    assert list(tmp_path.iterdir()) == []


def test_reproduce_without_torch_names_the_deep_extra_both_ways(twin_root, tmp_path, monkeypatch, capsys):
    for name in ("torch", "smallmines_deep", "smallmines_deep.protocol"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["-q", "reproduce", "--data", str(twin_root), "--models", "rf,unet", "-o", str(tmp_path / "t")]) == 1
    error = capsys.readouterr().err
    assert "model 'unet' needs PyTorch" in error
    assert error.strip().endswith("install the deep extra: in a clone of the repository pip install -e '.[deep]', "
                                  "otherwise pip install 'smallmines[deep]'")
    assert list(tmp_path.iterdir()) == []


def test_the_old_extras_are_aliases_of_maps():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["scale"] == extras["stac"] == ["smallmines[maps]"]   # 0.2's names, kept for one release
    # every module the commands ask for is one the maps extra installs
    installs = {requirement.split(">")[0].split("[")[0].replace("-", "_") for requirement in extras["maps"]}
    imports = {module.split(".")[0] for _, modules in _cases({"out": Path()}, Path()).values() for module in modules}
    assert imports <= installs | {"odc"} and "odc_stac" in installs
