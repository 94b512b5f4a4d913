"""`smallmines report`: one self-contained HTML file from a monitor folder, checked as a file and in a real Chromium."""

import base64
import io
import json
import math
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from PIL import Image
from rasterio.transform import from_origin

import smallmines_classic as sm
from smallmines_classic.cli import main
from smallmines_classic.monitoring import previews
from smallmines_classic.monitoring.report import write_report
from tests.monitoring.monitor_folder import LEFT, PIXEL, REGION_NAMES, TOP, UTM, write_monitor_folder

pytest.importorskip("folium", reason="the report needs folium (the scale extra)")

SIZE = 128
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
_PAIRS = ("2016–2019", "2019–2022")


@pytest.fixture(scope="module")
def monitor_dir(tmp_path_factory):
    return write_monitor_folder(tmp_path_factory.mktemp("monitor") / "run", size=SIZE)


@pytest.fixture(scope="module")
def report(monitor_dir, tmp_path_factory):
    return write_report(monitor_dir, tmp_path_factory.mktemp("report") / "report.html", progress=False)


class _Page(HTMLParser):
    """Every tag with its attributes, the text of each table's rows, and the text of style elements."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.tables, self.styles = [], {}, []
        self._table = self._row = self._cell = self._style = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "style":
            self._style = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = self._row = None
        elif tag == "style":
            self.styles.append("".join(self._style))
            self._style = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._style is not None:
            self._style.append(data)


def _page(path):
    return _Page(Path(path).read_text(encoding="utf-8"))


def _number(cell):
    return None if cell == "–" else float(cell.replace(",", ""))


def _pictures(html):
    """Every WebP data URL in the page, decoded."""
    found = re.findall(r"data:image/webp;base64,([A-Za-z0-9+/=]+)", html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


# -- the file --------------------------------------------------------------------------------------------------


def test_the_page_needs_no_resource_from_anywhere(report):
    page = _page(report)
    # Every resource is embedded: no stylesheet link, no script source, pictures as data URLs.
    assert [tag for tag, attrs in page.tags if tag == "link" or (tag == "script" and "src" in attrs)] == []
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "srcset", "poster", "data", "action", "background") and value:
                assert not value.lower().lstrip().startswith(("http:", "https:", "//")), (tag, name, value[:80])
                if name == "src":
                    assert value.startswith("data:"), (tag, value[:80])
    css = "".join(page.styles)
    assert "@import" not in css
    assert {url[:10] for url in re.findall(r"url\(([^)]*)\)", css)} <= {"data:image", "#default#V"}
    assert len(page.styles) >= 2 and "leaflet-container" in css      # Leaflet's stylesheet, inlined
    text = report.read_text(encoding="utf-8")
    assert "Leaflet 1.9.4" in text and "BSD 2-Clause" in text        # its licence travels with it
    viewport = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("name") == "viewport"]
    assert viewport == ["width=device-width, initial-scale=1"]     # the page stays zoomable on a phone


def test_the_table_holds_the_monitor_rows(report, monitor_dir):
    rows = json.loads((monitor_dir / "monitor.json").read_text())["rows"]
    header, *body = _page(report).tables["areas"]
    assert header[:4] == ["region", "year", "mined, map (ha)", "mined, error-adjusted (ha, 95 %)"]
    assert len(body) == len(rows) == 3 * (1 + len(REGION_NAMES))
    assert [cells[0] for cells in body[:3]] == ["(all)"] * 3          # the whole box first
    shown = {(cells[0], int(cells[1])): cells[2:] for cells in body}
    keys = ["new_ha", "persistent_ha", "no_longer_ha", "alerts", "nodata_ha"]
    for row in rows:
        cells = shown[row["region"], row["year"]]
        assert _number(cells[0]) == pytest.approx(row["mined_ha"], abs=0.005)
        if row["adjusted_ha"] is None:
            assert cells[1] == "–"
        else:
            value, interval = cells[1].split(" ± ")
            assert _number(value) == pytest.approx(row["adjusted_ha"], abs=0.005)
            assert _number(interval) == pytest.approx(row["adjusted_ha_ci"], abs=0.005)
        for key, cell in zip(keys, cells[2:]):
            assert (_number(cell) is None) == (row[key] is None), key
            if row[key] is not None:
                assert _number(cell) == pytest.approx(row[key], abs=0.005), key
    assert sum(1 for row in rows if row["adjusted_ha"] is not None) == 1  # the fixture has one assessed row


def test_names_from_files_are_shown_as_text_never_as_markup(report):
    text = report.read_text(encoding="utf-8")
    page = _page(report)
    assert [attrs for tag, attrs in page.tags if tag == "img" and attrs.get("src") == "x"] == []
    assert "Obuasi &lt;img src=x" in text                           # in the title and the table, escaped
    assert 'Obuasi <img src=x onerror="window.pwned=1"> & Co' in {cells[0] for cells in page.tables["areas"]}
    # In the map's tooltips (shown as HTML by Leaflet) the name is escaped before it is embedded.
    escaped = "Obuasi &lt;img src=x onerror=&quot;window.pwned=1&quot;&gt; &amp; Co"
    regions, *pairs = _vector_layers(text)
    assert {f["properties"]["name"] for f in regions} == {"Amansie West", escaped}
    assert {f["properties"]["region"] for pair in pairs for f in pair} == {"Amansie West", escaped}


def test_what_was_run_is_shown(report, monitor_dir):
    text = report.read_text(encoding="utf-8")
    for expected in ("RandomForestSegmenter", "B02, B03, B04, B8A, B11, B12", "offset-harmonised median",
                     "smallmines monitor --regions districts.gpkg", "EPSG:32630, 10 m pixels"):
        assert expected in text
    items = _page(report).tables["items"]
    assert items[1] == ["2016", "items.json", "3", "2", "1"]


def test_previews_fit_the_pixel_budget_and_the_page_states_their_resolution(monitor_dir, tmp_path):
    budget = 2000  # 128 x 128 px of 10 m: a factor of 3, about 43 x 43 px of 30 m
    out = write_report(monitor_dir, tmp_path / "small.html", preview_pixels=budget, progress=False)
    html = out.read_text(encoding="utf-8")
    pictures = _pictures(html)
    assert len(pictures) == 6                                         # true colour and mining map, three years
    assert len({p.size for p in pictures}) == 1
    width, height = pictures[0].size
    assert width * height <= budget
    assert "previews at about 30 m per pixel (the data: 10 m; a mining-map pixel's opacity shows the share of its " \
        "3 x 3 map pixels mapped as mining)" in unescape(html)
    # Independent of the code's arithmetic: the pictures span the 1280 m box at the stated resolution.
    assert abs(width * 30 - SIZE * PIXEL) <= 2 * 30 and abs(height * 30 - SIZE * PIXEL) <= 2 * 30
    full = write_report(monitor_dir, tmp_path / "full.html", progress=False)
    assert "previews at about 10 m per pixel (the data's resolution)" in unescape(full.read_text(encoding="utf-8"))
    assert out.stat().st_size < full.stat().st_size


def test_the_mining_picture_shows_the_maps_mined_share(monitor_dir, report):
    """The shares of mining drawn in each year's picture (as opacity) add up to the map's mined area."""
    pictures = _pictures(report.read_text(encoding="utf-8"))
    rows = json.loads((monitor_dir / "monitor.json").read_text())["rows"]
    rows = {r["year"]: r for r in rows if r["region"] == "(all)"}
    grid = previews.preview_grid(monitor_dir / "2016" / "composite.tif", sm.monitoring.PREVIEW_PIXELS)
    for (colour, mining), year in zip(zip(pictures[::2], pictures[1::2]), (2016, 2019, 2022)):
        rgba = np.asarray(mining.convert("RGBA"))
        red = (rgba[..., 3] > 0) & (rgba[..., :3] == previews.MINING_RGB).all(axis=-1)
        grey = (rgba[..., 3] > 0) & (rgba[..., :3] == previews.NODATA_RGB).all(axis=-1)
        pixel_ha = (grid.resolution_m ** 2) / 1e4
        share = (rgba[..., 3][red] - 90) / 150                           # the opacity rule of the mining picture
        assert share.sum() * pixel_ha == pytest.approx(rows[year]["mined_ha"], rel=0.03)
        assert grey.sum() * pixel_ha == pytest.approx(rows[year]["nodata_ha"], rel=0.08, abs=0.05)
        # Mined ground is brighter than the forest around it in the true-colour picture.
        brightness = np.asarray(colour.convert("RGB"), dtype=float).mean(axis=-1)
        assert brightness[red].mean() > brightness[~red & ~grey].mean() + 50


def _vector_layers(html):
    """The map's GeoJSON layers, in the order they are added, decoded from the page's script."""
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(html, m.end())[0]["features"] for m in re.finditer(r"geo_json_\w+_add\(", html)]


def _legend(html):
    """The map legend's text, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", re.search(r'<p class="legend note">(.*?)</p>', html, re.S)[1]).split())


def test_alerts_are_capped_to_the_largest(monitor_dir, report, tmp_path):
    """Regions first, then each pair's new mining; by default every polygon is drawn, else the largest."""
    features = json.loads((monitor_dir / "alerts_2016_2019.geojson").read_text())["features"]
    later = json.loads((monitor_dir / "alerts_2019_2022.geojson").read_text())["features"]
    html = report.read_text(encoding="utf-8")
    regions, first, second = _vector_layers(html)
    assert len(regions) == len(REGION_NAMES) and (len(first), len(second)) == (len(features), len(later))
    assert len(features) > 5
    assert f"new mining 2016–2019: {len(features)} polygons new mining" in _legend(html)
    html = write_report(monitor_dir, tmp_path / "capped.html", max_alerts=5, progress=False).read_text(encoding="utf-8")
    assert f"new mining 2016–2019: {len(features)} polygons (the 5 largest drawn)" in _legend(html)
    _, first, second = _vector_layers(html)
    largest = sorted(features, key=lambda f: -f["properties"]["area_ha"])[:5]
    assert sorted(f["properties"]["id"] for f in first) == sorted(str(f["properties"]["id"]) for f in largest)
    for drawn in first:
        source = next(f for f in largest if str(f["properties"]["id"]) == drawn["properties"]["id"])
        assert drawn["properties"]["area"] == f"{source['properties']['area_ha']:,.2f} ha"
        # Simplified for the preview, but where the polygon is: its vertices lie within the source's extent.
        x, y = np.array(source["geometry"]["coordinates"][0]).T
        u, v = np.array(drawn["geometry"]["coordinates"][0]).T
        assert x.min() - 1e-4 <= u.min() and u.max() <= x.max() + 1e-4 and y.min() - 1e-4 <= v.min()
    assert len(second) == min(5, len(later))


def test_one_year_without_regions(tmp_path):
    folder = write_monitor_folder(tmp_path / "one", size=64, years=(2022,), assessed_year=None)
    (folder / "regions.geojson").unlink()
    html = write_report(folder, progress=False).read_text(encoding="utf-8")
    page = _Page(html)
    assert [cells[:2] for cells in page.tables["areas"][1:]] == [["(all)", "2022"], [REGION_NAMES[0], "2022"],
                                                                  [REGION_NAMES[1], "2022"]]
    assert _vector_layers(html) == [] and "<title>Mining 2022: Amansie West" in html
    assert len(_pictures(html)) == 2


# -- previews ----------------------------------------------------------------------------------------------------


def _raster(path, width, height, count=1, dtype="uint8", nodata=None, data=None, descriptions=None):
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=UTM, nodata=nodata,
                   transform=from_origin(LEFT, TOP, PIXEL, PIXEL), tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        if data is not None:
            dst.write(data)
        for index, name in enumerate(descriptions or [], start=1):
            dst.set_band_description(index, name)
    return path


@pytest.mark.parametrize("width, height, budget, inside", [(5000, 5000, 4_000_000, 0.95), (300, 200, 10, 0.5),
                                                           (7, 5, 1_000_000, 0.95),
                                                           # 1000 km long, across UTM zones: tilted in Mercator
                                                           (100_000, 600, 4_000_000, 0.3)])
def test_preview_grid_keeps_to_the_budget(tmp_path, width, height, budget, inside):
    grid = previews.preview_grid(_raster(tmp_path / "scene.tif", width, height), budget)
    assert grid.width * grid.height <= budget and max(grid.width, grid.height) <= 16383
    # The smallest whole factor that fits: one less would not.
    smaller = grid.factor - 1
    if smaller >= 1:
        assert math.ceil(width / smaller) * math.ceil(height / smaller) > budget or \
            max(math.ceil(width / smaller), math.ceil(height / smaller)) > 16383
    assert grid.resolution_m == pytest.approx(PIXEL * grid.factor, rel=0.02)
    (south, west), (north, east) = grid.bounds
    assert south < north and west < east and grid.footprint.mean() > inside


def test_true_colour_takes_the_bands_by_name(tmp_path):
    """A composite whose bands are stored in reverse order: red, green and blue are still found by name."""
    names = list(reversed(sm.BAND_NAMES))
    data = np.stack([np.full((40, 40), 100.0 * (i + 1), np.float32) for i in range(13)])
    path = _raster(tmp_path / "reversed.tif", 40, 40, count=13, dtype="float32", nodata=float("nan"), data=data,
                   descriptions=names)
    grid = previews.preview_grid(path, 10_000)
    rgb = previews.true_colour(path, grid)
    inside = grid.footprint
    expected = [100.0 * (names.index(b) + 1) for b in ("B04", "B03", "B02")]
    assert [float(np.nanmedian(band[inside])) for band in rgb] == pytest.approx(expected)


def test_true_colour_reads_the_overviews_a_map_every_pixel(tmp_path):
    """A checkerboard averages to 0.5; a COG's 2x overview (nearest) keeps only one colour of it."""
    board = (np.indices((1024, 1024)).sum(axis=0) % 2).astype(np.float32)
    plain = _raster(tmp_path / "plain.tif", 1024, 1024, count=13, dtype="float32", nodata=float("nan"),
                    data=np.repeat(board[None], 13, axis=0), descriptions=sm.BAND_NAMES)
    cog = tmp_path / "cog.tif"
    rasterio.shutil.copy(plain, cog, driver="COG", overview_resampling="nearest")
    with rasterio.open(cog) as src:
        assert src.overviews(1) == [2]
    grid = previews.preview_grid(cog, 150 * 150)
    assert grid.factor == 7
    inside = grid.footprint
    assert np.nanmean(previews.warp_preview(cog, [1], grid)[0][inside]) == pytest.approx(0.5, abs=0.01)
    overview = previews.true_colour(cog, grid)[0][inside]
    assert np.nanmean(overview) in (pytest.approx(0.0, abs=0.01), pytest.approx(1.0, abs=0.01))


@pytest.mark.parametrize("read_whole", [100, 0])   # the 60 x 60 map read whole, and warped from the file
def test_a_preview_pixel_averages_the_map_leaving_nodata_out(tmp_path, monkeypatch, read_whole):
    monkeypatch.setattr(previews, "_READ_WHOLE", read_whole)
    mined = np.zeros((1, 60, 60), np.uint8)
    mined[0, :, ::3] = 1                        # a third of every 3 x 3 block mined
    mined[0, :, :30] = np.where(np.arange(30) % 3 == 0, 255, mined[0, :, :30])   # west half: a third nodata instead
    path = _raster(tmp_path / "map.tif", 60, 60, nodata=255, data=mined)
    grid = previews.preview_grid(path, 400)     # 20 x 20: each preview pixel 3 x 3 map pixels
    assert grid.factor == 3
    share = previews.warp_preview(path, [1], grid)[0]
    inside = share[2:-2, 2:-2]                  # away from the warp's edge
    east, west = inside[:, inside.shape[1] // 2 + 1:], inside[:, :inside.shape[1] // 2 - 1]
    assert np.nanmedian(east) == pytest.approx(1 / 3, abs=0.02)
    assert np.nanmedian(west) == pytest.approx(0.0, abs=0.02)  # its mined third is the nodata column: none left


def test_mining_picture_colours():
    share = np.array([[np.nan, 0.0, 0.5, 1.0]], np.float32)
    footprint = np.array([[True, True, True, True]])
    rgba = previews.mining_picture(share, footprint)
    assert rgba[0, 0].tolist() == [*previews.NODATA_RGB, 150]
    assert rgba[0, 1, 3] == 0
    assert rgba[0, 2].tolist() == [*previews.MINING_RGB, 165] and rgba[0, 3, 3] == 240
    assert previews.mining_picture(share, ~footprint)[0, 0, 3] == 0   # outside the map: transparent, not no data


def test_one_stretch_for_every_year():
    dark = np.full((3, 10, 10), 100.0, np.float32)
    bright = np.full((3, 10, 10), 300.0, np.float32)
    bright[:, 0, 0] = np.nan
    low, high = previews.stretch_limits([dark, bright], 0, 100)
    assert low.tolist() == [100] * 3 and high.tolist() == [300] * 3
    pictures = [previews.colour_picture(image, (low, high)) for image in (dark, bright)]
    assert pictures[0][5, 5, :3].tolist() == [0, 0, 0] and pictures[1][5, 5, :3].tolist() == [255, 255, 255]
    assert pictures[1][0, 0, 3] == 0 and pictures[1][5, 5, 3] == 255


# -- errors --------------------------------------------------------------------------------------------------------


def _copy(monitor_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(monitor_dir, copy)
    return copy


def _edit(folder, change):
    record = json.loads((folder / "monitor.json").read_text())
    change(record)
    (folder / "monitor.json").write_text(json.dumps(record))


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(format="something-else"), "not a smallmines-monitor file"),
    (lambda r: r.update(format_version=2), "format_version 2 was written by a newer smallmines"),
    (lambda r: r.update(years=[]), "'years' must be a non-empty list"),
    (lambda r: r.update(years=[2022, 2016, 2019]), "'years' must be increasing"),
    (lambda r: r.update(rows=[]), "'rows' must be a non-empty list"),
    (lambda r: r["rows"][4].update(mined_ha="12"), r"rows\[4\]: 'mined_ha' must be a number or null, got '12'"),
    (lambda r: r["rows"][2].update(year=2020), r"rows\[2\]: 'year' 2020 is not one of the run's years"),
    (lambda r: r["rows"][0].update(new_ha=float("nan")), r"rows\[0\]: 'new_ha' must be a number or null"),
    (lambda r: r["rows"][6].update(adjusted_ha_ci=None), "both be given or both be null"),
    (lambda r: r["files"]["2019"].update(map="../../etc/map.tif"), r"files\['2019'\]\['map'\] = '../../etc/map.tif' "
                                                                   "points outside"),
])
def test_a_broken_monitor_json_is_refused_naming_what(monitor_dir, tmp_path, change, message):
    folder = _copy(monitor_dir, tmp_path)
    _edit(folder, change)
    with pytest.raises(sm.MonitorFolderError, match=message):
        write_report(folder, tmp_path / "r.html", progress=False)
    assert not (tmp_path / "r.html").exists()


def test_an_incomplete_folder_is_refused(monitor_dir, tmp_path):
    with pytest.raises(sm.MonitorFolderError, match="has no monitor.json: not a `smallmines monitor` folder"):
        write_report(tmp_path, tmp_path / "r.html")
    folder = _copy(monitor_dir, tmp_path)
    (folder / "2019" / "map.tif").unlink()
    with pytest.raises(sm.MonitorFolderError, match=r"map .*2019/map.tif is missing: the folder is incomplete"):
        write_report(folder, tmp_path / "r.html")
    (folder / "monitor.json").write_text('{"format": "smallmines-monitor",')
    with pytest.raises(sm.MonitorFolderError, match="monitor.json: not valid JSON: .* at line 1"):
        write_report(folder, tmp_path / "r.html")


@pytest.mark.parametrize("content, message", [
    ('{"type": "Feature"}', "alerts_2019_2022.geojson: not a GeoJSON FeatureCollection"),
    ("[1, 2", "alerts_2019_2022.geojson: not a GeoJSON file"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Polygon"}}]}',
     "alerts_2019_2022.geojson: feature 0 has no valid GeoJSON geometry"),
])
def test_a_broken_alerts_file_is_refused_and_leaves_nothing_behind(monitor_dir, tmp_path, content, message):
    folder = _copy(monitor_dir, tmp_path)
    (folder / "alerts_2019_2022.geojson").write_text(content)
    with pytest.raises(ValueError, match=message):
        write_report(folder, tmp_path / "out" / "r.html", progress=False)
    assert not (tmp_path / "out").exists()


def test_the_report_never_replaces_an_input(monitor_dir, tmp_path):
    folder = _copy(monitor_dir, tmp_path)
    before = (folder / "monitor.json").read_bytes()
    for target in (folder / "monitor.json", folder / "2016" / "map.tif", folder / "regions.geojson"):
        with pytest.raises(ValueError, match="is the input"):
            write_report(folder, target, progress=False)
    assert (folder / "monitor.json").read_bytes() == before
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_report(folder, folder / "2016", progress=False)
    assert write_report(folder, progress=False) == folder / "report.html"   # the default: inside the folder


def test_the_report_is_never_written_among_the_folders_files(monitor_dir, tmp_path, capsys):
    """monitor.csv, a year's observation count and a step record are inputs too, whether read or not."""
    folder = _copy(monitor_dir, tmp_path)
    (folder / "steps").mkdir(exist_ok=True)
    (folder / "steps" / "regions.json").write_text("{}")
    targets = [folder / "monitor.csv", folder / "2016" / "composite_obs.tif", folder / "steps" / "regions.json",
               folder / "2016" / "new.html"]
    before = {path: path.read_bytes() for path in targets[:3]}
    for target in targets:
        with pytest.raises(sm.OutputError, match="would be written among the files of the monitor folder"):
            write_report(folder, target, progress=False)
        assert main(["-q", "report", str(folder), "-o", str(target)]) == 1, target
        assert "among the files of the monitor folder" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in targets[:3]} == before and not targets[3].exists()
    assert write_report(folder, folder / "again.html", progress=False).is_file()   # an .html beside monitor.json


def test_an_existing_file_is_replaced_only_if_it_is_an_earlier_report(monitor_dir, tmp_path, capsys):
    notes = tmp_path / "notes.html"
    notes.write_text("<html><body>my notes</body></html>")
    with pytest.raises(sm.OutputError, match="exists and is not a smallmines report; give another file, or "
                                             "--overwrite"):
        write_report(monitor_dir, notes, progress=False)
    assert main(["-q", "report", str(monitor_dir), "-o", str(notes)]) == 1
    assert notes.read_text() == "<html><body>my notes</body></html>"
    assert main(["-q", "report", str(monitor_dir), "-o", str(notes), "--overwrite", "--preview-pixels",
                    "5000"]) == 0
    page = notes.read_text(encoding="utf-8")
    assert '<meta name="generator" content="smallmines ' in page
    notes.write_text(page.replace("<title>", "<title>older "))   # an earlier report: replaced without asking
    assert write_report(monitor_dir, notes, preview_pixels=5000, progress=False) == notes
    assert "<title>older " not in notes.read_text(encoding="utf-8")


def test_cli(monitor_dir, tmp_path):
    out = tmp_path / "cli.html"
    command = [sys.executable, "-m", "smallmines_classic.cli", "-q", "report"]
    done = subprocess.run([*command, str(monitor_dir), "-o", str(out), "--preview-pixels", "5000"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (") and "no connection needed" in done.stdout
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    done = subprocess.run([*command, str(tmp_path), "-o", str(tmp_path / "x.html")], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"smallmines report: error: {tmp_path} has no monitor.json: not a `smallmines monitor` folder, or its run has "
        "not finished (monitor.json is written last)"]


def test_import_does_not_load_the_report_libraries():
    code = ("import sys, smallmines_classic, smallmines_classic.cli; print(sorted(m for m in ('folium', 'branca', "
            "'jinja2', 'matplotlib', 'shapely', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- in a real browser ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(headless_chromium):
    with headless_chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context


class _Opened:
    """A report opened in the browser: every request recorded, any that would leave the machine aborted."""

    def __init__(self, context, path):
        self.requests, self.blocked, self.exceptions, self.console_errors = [], [], [], []
        self.page = context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        self.page.route("**/*", self._route)
        self.page.goto(Path(path).resolve().as_uri())
        self.page.wait_for_function("""() => {
            const images = [...document.querySelectorAll('img.leaflet-image-layer')];
            return images.length === 2 && images.every(i => i.complete && i.naturalWidth > 0);
        }""", timeout=20_000)

    def _route(self, route):
        url = route.request.url
        if urlparse(url).scheme in LOCAL_SCHEMES:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def overlay_sources(self):
        return self.page.eval_on_selector_all("img.leaflet-image-layer", "images => images.map(i => i.src)")

    def map_pixels(self):
        picture = Image.open(io.BytesIO(self.page.locator("#map-frame").screenshot()))
        return np.asarray(picture.convert("RGB"), dtype=int)

    def click_layer(self, name):
        self.page.locator(".leaflet-control-layers label", has_text=name).first.click()
        self.page.wait_for_timeout(300)


def _red_share(pixels):
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(np.mean((r > 150) & (g < 90) & (b < 110)))


def _grey_share(pixels):
    """Share of the no-data grey (semi-opaque over the map's light background)."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(np.mean((np.abs(r - g) < 6) & (np.abs(g - b) < 6) & (r > 140) & (r < 190)))


def test_in_chromium_the_report_shows_map_and_table_and_nothing_leaves_the_machine(browser, report, monitor_dir):
    opened = _Opened(browser, report)
    page = opened.page
    assert opened.exceptions == opened.console_errors == []
    assert {urlparse(url).scheme for url in opened.requests} <= LOCAL_SCHEMES and opened.blocked == []
    assert [url for url in opened.requests if url.startswith("file:")] == [report.resolve().as_uri()]
    box = page.locator(".folium-map").bounding_box()
    assert box["width"] >= 600 and box["height"] >= 400
    pixels = opened.map_pixels()
    assert pixels.std(axis=(0, 1)).min() > 20                       # not blank
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    assert _red_share(pixels) > 0.01                                # the mining map is drawn
    first = page.locator("#areas tbody tr").first.inner_text().split("\t")
    row = next(r for r in json.loads((monitor_dir / "monitor.json").read_text())["rows"] if r["region"] == "(all)")
    assert first[:3] == ["(all)", "2016", f"{row['mined_ha']:,.2f}"]
    assert page.locator("#areas tbody tr").count() == 9
    # Tooltips: the regions' names and each new-mining polygon's area, shown as text, never run as markup.
    paths = page.locator("path.leaflet-interactive")
    tips = []
    for index in (*range(len(REGION_NAMES)), paths.count() - 1):
        paths.nth(index).dispatch_event("mouseover")
        tips.append(page.locator(".leaflet-tooltip").last.inner_text())
        paths.nth(index).dispatch_event("mouseout")
    assert tips[:-1] == list(REGION_NAMES)
    assert re.fullmatch(r"new mining 2019–2022\t\d+\.\d\d ha\nregion\t.+\npolygon\t\d+", tips[-1])
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("img.plot").evaluate("i => i.complete && i.naturalWidth > 300")
    page.close()


def test_in_chromium_the_layer_switch_changes_the_pictures(browser, report):
    opened = _Opened(browser, report)
    shown_2022, pixels_2022 = opened.overlay_sources(), opened.map_pixels()
    opened.click_layer("2019")
    shown_2019, pixels_2019 = opened.overlay_sources(), opened.map_pixels()
    assert len(shown_2019) == 2 and set(shown_2019).isdisjoint(shown_2022)
    assert np.abs(pixels_2019 - pixels_2022).sum(axis=-1).astype(bool).mean() > 0.02
    assert _grey_share(pixels_2019) > _grey_share(pixels_2022) + 0.005  # 2019's cloud: no data, drawn grey
    opened.click_layer("mining map")                                 # the mining map off: no red left
    assert _red_share(opened.map_pixels()) < 0.001 < _red_share(pixels_2019)
    assert opened.exceptions == opened.console_errors == opened.blocked == []
    opened.page.close()


def test_in_chromium_the_basemap_offline_breaks_nothing(browser, report):
    opened = _Opened(browser, report)
    opened.click_layer("OpenStreetMap")
    opened.page.wait_for_timeout(500)
    assert opened.blocked and all(urlparse(url).hostname.endswith("openstreetmap.org") for url in opened.blocked)
    assert opened.exceptions == []                                    # failed tiles are no script error
    assert all(e.startswith("Failed to load resource") for e in opened.console_errors)
    opened.click_layer("2016")                                        # the page still answers
    assert len(opened.overlay_sources()) == 2 and _red_share(opened.map_pixels()) > 0.005
    assert {urlparse(url).scheme for url in opened.requests if url not in opened.blocked} <= LOCAL_SCHEMES
    opened.page.close()
