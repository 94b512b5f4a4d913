"""Mistakes a newcomer makes, caught by the command line: two-digit years, a box outside the ranges of longitude and
latitude, and a box given as lat/lon instead of lon/lat."""

import contextlib
import io
import json

import pytest

from smallmines_classic.cli import build_parser, main


def _usage_error(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    return err.getvalue().splitlines()[-1]


YEARS_COMMANDS = [["synth", "-o", "twin"], ["train", "data", "-o", "rf.skops"], ["evaluate", "rf.skops", "--data", "d"],
                  ["monitor", "--regions", "r.gpkg", "--field", "NAME", "--model", "rf.skops", "-o", "m"]]


@pytest.mark.parametrize("command", YEARS_COMMANDS, ids=lambda argv: argv[0])
def test_two_digit_years_are_refused_with_the_years_meant(command):
    line = _usage_error([*command, "--years", "16", "22"])
    assert line == (f"smallmines {command[0]}: error: argument --years: 16 22 are before 2015, when Sentinel-2 began; "
                    "did you mean 2016 2022?")
    line = _usage_error([*command, "--years", "2016", "19"])
    assert line.endswith("argument --years: 19 is before 2015, when Sentinel-2 began; did you mean 2016 2019?")
    assert build_parser().parse_args([*command, "--years", "2016", "2022"]).years == [2016, 2022]


def test_a_year_before_sentinel2_is_refused():
    base = ["composite", "--bbox", "-2", "5", "-1.9", "5.1", "-o", "s.tif", "--year"]
    assert _usage_error([*base, "22"]).endswith("argument --year: 22 is before 2015, when Sentinel-2 began; "
                                                "did you mean 2022?")
    assert _usage_error([*base, "2013"]).endswith("argument --year: 2013 is before 2015, when Sentinel-2 began")
    assert _usage_error(["synth", "-o", "t", "--years", "1999"]).endswith("1999 is before 2015, when Sentinel-2 began")
    assert build_parser().parse_args([*base, "2015"]).year == 2015


@pytest.mark.parametrize("box, message", [
    (["-1.9", "5", "-2", "5.1"], "-1.9 5 -2 5.1 is not a box W S E N in degrees: it needs W < E and S < N"),
    (["-2", "5.1", "-1.9", "5"], "it needs W < E and S < N"),
    (["200", "5", "201", "6"], "200 5 201 6 is not a box W S E N in degrees: longitudes W and E must lie within "
                               "-180..180"),
    (["-2.05", "95.2", "-1.95", "95.3"], "latitudes S and N must lie within -90..90; did you give lat/lon instead "
                                         "of lon/lat? try --bbox W S E N = 95.2 -2.05 95.3 -1.95")])
@pytest.mark.parametrize("command", ["composite", "monitor"])
def test_a_box_outside_the_ranges_is_a_usage_error(box, message, command):
    argv = ([command, "--year", "2022", "-o", "s.tif"] if command == "composite" else
            [command, "--regions", "r.gpkg", "--field", "NAME", "--years", "2022", "--model", "m", "-o", "o"])
    line = _usage_error([*argv, "--bbox", *box])
    assert line.startswith(f"smallmines {command}: error: argument --bbox: ") and line.endswith(message)


def _box(tour):
    return json.loads((tour["out"] / "monitor" / "monitor.json").read_text())["bbox"]


def _text(box):
    return " ".join(f"{value:g}" for value in box)


def test_a_lat_lon_box_is_named_against_the_regions_and_nothing_is_written(tour, tmp_path, capsys):
    west, south, east, north = _box(tour)
    folder = tour["out"]
    argv = ["-q", "monitor", "--regions", str(folder / "regions.geojson"), "--field", "name", "--years", "2016",
            "2022", "--model", str(folder / "model.skops"), "-o", str(tmp_path / "m"), "--bbox"]
    assert main([*argv, str(south), str(west), str(north), str(east)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"smallmines monitor: error: --bbox {_text([south, west, north, east])} (W S E N, degrees) "
                          f"does not overlap the regions of {folder / 'regions.geojson'}")
    assert err.strip().endswith(f"did you give lat/lon instead of lon/lat? try --bbox W S E N = "
                                f"{_text([west, south, east, north])}")
    assert main([*argv, "10", "40", "10.1", "40.1"]) == 1   # elsewhere: no hint
    err = capsys.readouterr().err
    assert "does not overlap the regions" in err and "did you give" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_lat_lon_box_is_named_against_the_items_and_nothing_is_written(tour, tmp_path, capsys):
    west, south, east, north = _box(tour)
    argv = ["-q", "composite", "--items", str(tour["out"] / "items" / "items.json"), "--year", "2022", "-o",
            str(tmp_path / "scene.tif"), "--bbox"]
    assert main([*argv, str(south), str(west), str(north), str(east)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"smallmines composite: error: --bbox {_text([south, west, north, east])} (W S E N, "
                          f"degrees) does not overlap any Sentinel-2 item of {tour['out'] / 'items' / 'items.json'} "
                          "in 2022 (months 1)")
    assert err.endswith(f"try --bbox W S E N = {_text([west, south, east, north])}")
    assert main([*argv, str(west), str(south), str(east), str(north), "--year", "2020"]) == 1   # no item that year
    assert "did you give" not in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_monitor_ends_with_its_table_and_the_next_command(tour, tmp_path, capsys):
    folder, out = tour["out"], tmp_path / "monitor"
    assert main(["-q", "monitor", "--regions", str(folder / "regions.geojson"), "--field", "name", "--years", "2016",
                 "2022", "--model", str(folder / "model.skops"), "--items", str(folder / "items" / "items.json"),
                 "--bbox", *map(str, _box(tour)), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {(row["region"], row["year"]): row for row in json.loads((out / "monitor.json").read_text())["rows"]}
    table = printed.split("\n\n")[-2].splitlines()
    assert table[0].split() == ["mined", "ha", "2016", "2022"]
    assert [line.split()[0] for line in table[1:]] == ["(all)", "West", "East"]
    for line in table[1:]:
        region, *cells = line.split()
        assert cells == [f"{rows[region, year]['mined_ha']:.1f}" for year in (2016, 2022)]
    assert printed.splitlines()[-1] == f"next: smallmines report {out}"
