"""``smallmines tour``: every step's line and file, the labels against the twin's truth, the table, the report in a
real Chromium with nothing loaded from anywhere, and a folder that is not the tour's left alone."""

import csv
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from smallmines_classic.cli import main
from smallmines_classic.io.twin_items import twin_mosaic
from smallmines_classic.tour import TOUR_ENTRIES
from tests.cli.conftest import TOUR_ARGS

STEPS = ("synth", "train", "items", "regions", "monitor", "sample", "assess", "report")
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


def _steps(stdout):
    """{step: (command line, seconds, output path)} from the tour's printout."""
    lines = stdout.splitlines()
    found = {}
    for index, line in enumerate(lines):
        match = re.fullmatch(r"\[(\d)/8\] (\w+): .+", line)
        if match:
            done = re.fullmatch(r" {6}(\d+\.\d) s -> (\S+)( \(.+\))?", lines[index + 2])
            assert done, lines[index + 2]
            found[match[2]] = (lines[index + 1].strip(), float(done[1]), Path(done[2]))
    return found


def test_every_step_is_printed_with_its_command_time_and_output(tour):
    assert tour["code"] == 0
    steps = _steps(tour["stdout"])
    assert tuple(steps) == STEPS
    for name, (command, seconds, output) in steps.items():
        assert seconds >= 0 and output.exists(), name
        assert command.startswith("$ smallmines ") or command.startswith("("), name
    assert steps["monitor"][0].startswith(f"$ smallmines monitor --regions {tour['out'] / 'regions.geojson'}")
    assert sorted(path.name for path in tour["out"].iterdir()) == sorted(TOUR_ENTRIES)
    last = tour["stdout"].splitlines()[-1]
    assert last == f"open {(tour['out'] / 'report.html').resolve()} in a web browser (no connection needed)"


def test_the_commands_shown_are_commands_the_parser_takes(tour):
    from smallmines_classic.cli import build_parser

    shown = [part for command, _, _ in _steps(tour["stdout"]).values() if command.startswith("$ ")
             for part in command[2:].split("; ") if part.startswith("smallmines ") and "..." not in part]
    assert len(shown) == 6   # synth, train, monitor, sample, assess, report
    for command in shown:
        parsed = build_parser().parse_args(shlex.split(command)[1:])
        assert parsed.command == command.split()[1]


def test_the_sample_is_labelled_with_the_twins_truth(tour):
    out = tour["out"]
    with open(out / "sample_2022_labelled.csv", newline="") as handle:
        points = list(csv.DictReader(handle))
    assert len(points) == 40
    masks, transform, _ = twin_mosaic(out / "twin", [1, 2, 3, 4], 2022, kind="MASK")
    for point in points:   # the pixel of the twin's 2022 mosaic that holds the point's x, y
        row = int((transform.f - float(point["y"])) // transform.a)
        col = int((float(point["x"]) - transform.c) // transform.a)
        assert int(point["reference"]) == masks[0, row, col]
    assert {point["map_class"] for point in points} == {"0", "1"}


def test_the_monitor_folder_holds_three_years_two_regions_and_the_assessment(tour):
    summary = json.loads((tour["out"] / "monitor" / "monitor.json").read_text())
    assert summary["years"] == [2016, 2019, 2022]
    assert summary["regions"]["names"] == ["West", "East"]
    rows = {(row["region"], row["year"]): row for row in summary["rows"]}
    assert len(rows) == 9
    assert rows["(all)", 2022]["area_basis"] == "map+sample" and rows["(all)", 2022]["adjusted_ha"] is not None
    assert rows["(all)", 2016]["adjusted_ha"] is None
    # 2019 is 2016's west half beside 2022's east half
    assert rows["West", 2019]["mined_ha"] == rows["West", 2016]["mined_ha"]
    assert rows["East", 2019]["mined_ha"] == rows["East", 2022]["mined_ha"]
    table = tour["stdout"].split("\n\nmined ha")[1].splitlines()
    for line in table[1:4]:
        region, *cells = re.split(r"  +", line.strip())
        assert [float(cell.split(" [")[0]) for cell in cells] == [round(rows[region, y]["mined_ha"], 1)
                                                                  for y in (2016, 2019, 2022)]


def test_a_folder_that_holds_other_files_is_refused_and_left_as_it_was(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["-q", "tour", "-o", str(tmp_path), *TOUR_ARGS]) == 1
    assert "is not empty (it holds notes.txt)" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args, message", [(["--tiles", "6"], "tiles must be a square number from 4 up"),
                                           (["--tiles", "1"], "tiles must be a square number from 4 up"),
                                           (["--points", "10"], "points must be at least 20")])
def test_bad_settings_are_refused_before_any_work(args, message, tmp_path, capsys):
    assert main(["-q", "tour", "-o", str(tmp_path / "tour"), *TOUR_ARGS, *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "tour").exists()


@pytest.mark.slow
def test_overwrite_replaces_a_previous_tour_and_keeps_the_rest(tour, tmp_path, capsys):
    folder = tmp_path / "again"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "report.html").write_text("an old report")
    (folder / "monitor").mkdir()
    (folder / "monitor" / "stale.txt").write_text("from an older tour")
    assert main(["-q", "tour", "-o", str(folder), "--overwrite", *TOUR_ARGS]) == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert not (folder / "monitor" / "stale.txt").exists()
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    # the same settings and seed give the same table
    first = json.loads((tour["out"] / "monitor" / "monitor.json").read_text())["rows"]
    assert json.loads((folder / "monitor" / "monitor.json").read_text())["rows"] == first


def check_opens_offline(context, report):
    """Open ``report`` in the browser ``context``: its maps load, no script fails, every request stays on the machine
    (any other is aborted and recorded); returns the page."""
    report = Path(report).resolve()
    requests, blocked, errors = [], [], []

    def route(request_route):
        url = request_route.request.url
        if urlparse(url).scheme in LOCAL_SCHEMES:
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/*", route)
    page.goto(report.as_uri())
    page.wait_for_function("""() => {
        const images = [...document.querySelectorAll('img.leaflet-image-layer')];
        return images.length === 2 && images.every(i => i.complete && i.naturalWidth > 0);
    }""", timeout=20_000)
    assert errors == [] and blocked == [], (errors, blocked)
    assert {urlparse(url).scheme for url in requests} <= LOCAL_SCHEMES
    assert [url for url in requests if url.startswith("file:")] == [report.as_uri()]
    return page


def test_in_chromium_the_tours_report_opens_and_nothing_leaves_the_machine(tour, headless_chromium):
    with headless_chromium(viewport={"width": 1280, "height": 900}) as context:
        page = check_opens_offline(context, tour["out"] / "report.html")
        assert page.locator("#areas tbody tr").count() == 9
        cells = page.locator("#areas tbody tr").first.inner_text().split("\t")
        assert cells[:2] == ["(all)", "2016"]
        assert np.isfinite(float(cells[2].replace(",", "")))


if __name__ == "__main__":   # python -m tests.cli.test_tour REPORT: CI opens the report of a tour run from the wheel
    import sys

    from tests.conftest import _chromium_context

    with _chromium_context(viewport={"width": 1280, "height": 900}) as browser:
        rows = check_opens_offline(browser, sys.argv[1]).locator("#areas tbody tr").count()
    print(f"{sys.argv[1]} opens in Chromium, {rows} table rows, every request local")
