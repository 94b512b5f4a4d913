"""``smallmines report``: one self-contained HTML file from a ``smallmines monitor`` folder.

The page holds a zoomable map (Leaflet, through folium) of each year's
true-colour composite and mining map, the new-mining polygons and the
regions; the region x year table; a plot of mined area per region over the
years; and what was run. Everything is inside the one file: the pictures as
data URLs, Leaflet's script and stylesheet inlined from the copy shipped in
this package. The page loads nothing from anywhere; only the optional
OpenStreetMap background, off by default, asks for tiles when switched on.
"""

import base64
import datetime
import html
import importlib.resources
import io
import json
import re
import shlex
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .._backend import require
from .._guards import check_output_not_input
from .._writes import atomic_path, check_file_target
from ..defaults import MAX_ALERTS, PREVIEW_PIXELS
from ..errors import InputError, MonitorFolderError, OutputError
from ..models.persistence import package_version
from . import previews
from .results import read_monitor

__all__ = ["write_report", "PREVIEW_PIXELS", "MAX_ALERTS"]

#: Outline colours of each pair of years' new mining, oldest first (repeated beyond six pairs), and of the regions.
_ALERT_COLOURS = ("#ffd700", "#ff8c00", "#00e5ff", "#7cfc00", "#ff00ff", "#ffffff")
_REGION_COLOUR = "#1e90ff"
_ALL = "(all)"
_LEAFLET = "static/leaflet"
#: How an earlier report is known (report.html.j2 writes it in the page's head): it may be replaced without asking.
_GENERATOR_MARK = b'<meta name="generator" content="smallmines '
_EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _resource(name):
    return importlib.resources.files(__package__).joinpath(name)


def _data_url(data, mime):
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _leaflet():
    """Leaflet's script, its stylesheet with the images it names inlined, its version line and its licence."""
    folder = _resource(_LEAFLET)
    script = folder.joinpath("leaflet.js").read_text(encoding="utf-8")
    css = re.sub(r"url\((images/[\w.-]+\.png)\)",
                 lambda match: f"url({_data_url(folder.joinpath(match[1]).read_bytes(), 'image/png')})",
                 folder.joinpath("leaflet.css").read_text(encoding="utf-8"))
    banner = re.search(r"Leaflet (\S+),.*?\n \* (\(c\).*?)\n", script, re.DOTALL)
    return script, css, banner[1], banner[2], folder.joinpath("LICENSE").read_text(encoding="utf-8")


def _ha(value):
    return "–" if value is None else f"{value:,.2f}"


def _region_order(rows):
    """Regions in the order they first appear, the whole box's ``(all)`` first."""
    names = list(dict.fromkeys(row["region"] for row in rows))
    return sorted(names, key=lambda name: (name != _ALL, names.index(name)))


def _table(rows):
    """The table's header and rows (cells as text), the whole box first, then each region, years in order."""
    header = ["region", "year", "mined, map (ha)", "mined, error-adjusted (ha, 95 %)", "new (ha)", "persistent (ha)",
              "no longer mined (ha)", "new-mining polygons", "no data (ha)"]
    order = {name: i for i, name in enumerate(_region_order(rows))}
    table = []
    for row in sorted(rows, key=lambda r: (order[r["region"]], r["year"])):
        assessed = row.get("adjusted_ha") is not None
        adjusted = f"{_ha(row['adjusted_ha'])} ± {_ha(row['adjusted_ha_ci'])}" if assessed else "–"
        alerts = "–" if row.get("alerts") is None else f"{int(row['alerts']):,}"
        changes = [_ha(row.get(k)) for k in ("new_ha", "persistent_ha", "no_longer_ha")]
        cells = [_ha(row["mined_ha"]), adjusted, *changes, alerts, _ha(row["nodata_ha"])]
        table.append({"region": row["region"], "year": row["year"], "cells": cells, "total": row["region"] == _ALL})
    return header, table


def _series(rows, region):
    """Years, map-based areas and (years, areas, half-widths) of the error-adjusted ones, of one region."""
    mine = sorted((r for r in rows if r["region"] == region), key=lambda r: r["year"])
    assessed = [r for r in mine if r.get("adjusted_ha") is not None]
    return ([r["year"] for r in mine], [np.nan if r["mined_ha"] is None else r["mined_ha"] for r in mine],
            tuple([r[k] for r in assessed] for k in ("year", "adjusted_ha", "adjusted_ha_ci")))


def _plot_png(rows, years, top=8):
    """A PNG of mined area per year: the whole box, and the ``top`` regions with most mining in the last year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = [name for name in _region_order(rows) if name != _ALL]
    last = {r["region"]: r["mined_ha"] or 0 for r in rows if r["year"] == years[-1]}
    shown = sorted(regions, key=lambda name: -last.get(name, 0))[:top]
    panels = []
    if any(r["region"] == _ALL for r in rows):
        panels.append((_ALL, [_ALL]))
    if shown:
        panels.append(("regions", shown))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, names) in zip(axes[0], panels):
        for name in names:
            x, y, (ax_years, adjusted, ci) = _series(rows, name)
            label = name.replace("$", r"\$")  # a name is text, not matplotlib's mathtext
            line, = ax.plot(x, y, marker="o", label=f"{label}, map" if title == _ALL else label)
            if ax_years:
                ax.errorbar(ax_years, adjusted, yerr=ci, fmt="s", color=line.get_color(), capsize=4, mfc="white",
                            label=f"{label}, error-adjusted ± 95 %" if title == _ALL else None)
        some = f"regions ({len(shown)} with most mining in {years[-1]})" if len(regions) > len(shown) else "regions"
        ax.set_title("whole box" if title == _ALL else some, fontsize=10)
        ax.set_xticks(years)
        ax.set_xlabel("year")
        ax.set_ylabel("mined area (ha)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if any(r.get("adjusted_ha") is not None and r["region"] != _ALL for r in rows):
        fig.text(0.5, 0.005, "open squares: error-adjusted area with its 95 % interval", ha="center", fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _read_features(path):
    """The features of a GeoJSON FeatureCollection, refusing anything else with the file's name."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MonitorFolderError(f"{path}: not a GeoJSON file ({error})") from None
    features = data.get("features") if isinstance(data, dict) and data.get("type") == "FeatureCollection" else None
    if not isinstance(features, list):
        raise MonitorFolderError(f"{path}: not a GeoJSON FeatureCollection")
    return [f for f in features if isinstance(f, dict) and f.get("geometry")]


def _text(value):
    """A value from a file as tooltip text: Leaflet shows tooltips as HTML, so it is escaped."""
    return "–" if value is None else html.escape(str(value))


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _alerts(path, max_alerts, tolerance):
    """The pair's new-mining polygons to draw (the ``max_alerts`` largest, simplified), and their count.

    Each keeps three short properties for its tooltip (area, region, id);
    the tooltip's labels are the layer's, so a polygon carries no more text.
    """
    features = _read_features(path)
    features.sort(key=lambda f: -(_number((f.get("properties") or {}).get("area_ha")) or 0))
    drawn = []
    for feature in features[:max_alerts]:
        props = feature.get("properties") or {}
        area = _number(props.get("area_ha"))
        drawn.append({"type": "Feature", "geometry": feature["geometry"],
                      "properties": {"area": "unknown" if area is None else f"{area:,.2f} ha",
                                     "region": _text(props.get("region")), "id": _text(props.get("id"))}})
    return previews.simplified_features(drawn, tolerance, path), len(features)


def _regions(path, tolerance):
    features = _read_features(path)
    drawn = [{"type": "Feature", "geometry": f["geometry"],
              "properties": {"name": _text((f.get("properties") or {}).get("name"))}} for f in features]
    return previews.simplified_features(drawn, tolerance, path)


def _pane_switch(folium, pane, name):
    """A layer-control entry that shows or hides a map pane: one switch for the mining map of the year shown."""
    from jinja2 import Template

    class PaneSwitch(folium.map.Layer):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            {{ this.get_name() }}.on("add", function () {
                {{ this._parent.get_name() }}.getPane({{ this.pane|tojson }}).style.display = ""; });
            {{ this.get_name() }}.on("remove", function () {
                {{ this._parent.get_name() }}.getPane({{ this.pane|tojson }}).style.display = "none"; });
            {% endmacro %}""")

        def __init__(self):
            super().__init__(name=name, overlay=True, control=True, show=True)
            self._name = "PaneSwitch"
            self.pane = pane

    return PaneSwitch()


def _leaflet_map(results, grid, pictures, vectors):
    """The folium map: one base layer per year (true colour + mining map), switchable overlays; its three page parts."""
    folium = require("folium", "maps")
    fmap = folium.Map(location=None, tiles=None, width="100%", height="100%", control_scale=True)
    fmap.default_js, fmap.default_css = [], []  # Leaflet is inlined from the package instead of the CDNs
    folium.map.CustomPane("truecolour", z_index=250).add_to(fmap)   # above the basemap's tiles (200)
    folium.map.CustomPane("mining", z_index=300).add_to(fmap)       # below the polygons (400)
    for year in results.years:
        colour, mining = pictures[year]
        group = folium.FeatureGroup(name=f"{year}", overlay=False, show=year == results.years[-1])
        folium.raster_layers.ImageOverlay(colour, grid.bounds, pane="truecolour", name=f"{year} true colour",
                                          control=False).add_to(group)
        folium.raster_layers.ImageOverlay(mining, grid.bounds, pane="mining", name=f"{year} mining map",
                                          control=False).add_to(group)
        group.add_to(fmap)
    _pane_switch(folium, "mining", "mining map (of the year shown)").add_to(fmap)
    if vectors["regions"] is not None:
        folium.GeoJson({"type": "FeatureCollection", "features": vectors["regions"]}, name="regions",
                       style_function=lambda _: {"color": _REGION_COLOUR, "weight": 2, "fill": False},
                       tooltip=folium.GeoJsonTooltip(["name"], labels=False, sticky=True)).add_to(fmap)
    for pair in vectors["pairs"]:
        folium.GeoJson({"type": "FeatureCollection", "features": pair["features"]}, name=f"new mining {pair['label']}",
                       style_function=lambda _, c=pair["colour"]: {"color": c, "weight": 2, "fillOpacity": 0.1},
                       tooltip=folium.GeoJsonTooltip(["area", "region", "id"], aliases=[
                           f"new mining {pair['label']}", "region", "polygon"])).add_to(fmap)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap background (online only)", overlay=True, show=False,
                     control=True).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds(grid.bounds)
    figure = fmap.get_root()
    figure.render()
    # folium's viewport tag forbids zooming the page; a report with tables must stay zoomable on a phone.
    header = re.sub(r'<meta name="viewport"[^>]*>\s*', "", figure.header.render())
    parts = header, figure.html.render(), figure.script.render()
    for part in parts:
        found = _EXTERNAL.search(part)
        if found:  # a folium version that adds a resource of its own: refuse rather than write a page that needs it
            raise RuntimeError(f"folium {folium.__version__} added an external resource "
                               f"({part[found.start():][:120]!r}); the report would not work offline: please report it")
    return parts


def _pictures(results, grid, progress):
    """Year -> (true-colour, mining-map) WebP data URLs, with one colour stretch for all years."""
    colours, mining = {}, {}
    for year in tqdm(results.years, desc="previews", unit="year", disable=not progress):
        colours[year] = previews.true_colour(results.composites[year], grid).astype(np.float16)  # all years, half size
        share = previews.warp_preview(results.maps[year], [1], grid)[0]
        mining[year] = _webp_url(previews.mining_picture(share, grid.footprint), lossless=True)
    limits = previews.stretch_limits(list(colours.values()))
    return {year: (_webp_url(previews.colour_picture(colours[year].astype(np.float32), limits)), mining[year])
            for year in results.years}


def _webp_url(rgba, lossless=False):
    return _data_url(previews.webp(rgba, lossless=lossless), "image/webp")


def _run_info(record, results):
    """(term, text) pairs of what was run, from ``monitor.json``; absent entries are left out."""
    model = record.get("model") or {}
    regions = record.get("regions") or {}
    versions = record.get("versions") or {}
    entries = [
        ("model", " · ".join(str(v) for v in (model.get("class"), model.get("path")) if v)),
        ("model bands", ", ".join(map(str, model.get("band_names") or []))),
        ("model sha256", model.get("sha256")),
        ("composite recipe", record.get("recipe")),
        ("months", ", ".join(map(str, record.get("months") or []))),
        ("years", ", ".join(map(str, results.years))),
        ("box (W, S, E, N, degrees)", ", ".join(f"{v:.5f}" if _number(v) is not None else str(v)
                                                for v in record.get("bbox") or [])),
        ("grid", ", ".join(v for v in (record.get("crs"), record.get("pixel_size_m") and
                                        f"{record['pixel_size_m']} m pixels") if v)),
        ("regions", " · ".join(str(v) for v in (regions.get("path"), regions.get("field") and
                                                f"named by {regions['field']}") if v)),
        ("command", shlex.join(map(str, record["command"])) if isinstance(record.get("command"), list) else
         record.get("command")),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("run", " · ".join(str(v) for v in (record.get("created"), record.get("smallmines_version") and
                                            f"smallmines {record['smallmines_version']}") if v)),
    ]
    return [(term, str(value)) for term, value in entries if value]


def _items(record):
    items = record.get("items") if isinstance(record.get("items"), dict) else {}
    return [(year, info.get("source", "–"), *(info.get(k, "–") for k in ("s2", "s1", "dem")))
            for year, info in items.items() if isinstance(info, dict)]


def _title(results):
    names = [name for name in _region_order(results.rows) if name != _ALL]
    where = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    span = f"{results.years[0]}–{results.years[-1]}" if len(results.years) > 1 else f"{results.years[0]}"
    return f"Mining {span}" + (f": {where}" if where else "")


def render_report(results, *, preview_pixels=PREVIEW_PIXELS, max_alerts=MAX_ALERTS, progress=True):
    """The report page of read monitor results, as a string (see :func:`write_report`)."""
    from jinja2 import Environment

    if int(max_alerts) != max_alerts or max_alerts < 0:
        raise InputError(f"max_alerts must be a whole number >= 0, got {max_alerts}")
    grid = previews.preview_grid(results.composites[results.years[0]], preview_pixels)
    pictures = _pictures(results, grid, progress)
    tolerance = grid.resolution_m / 2 / 111_320  # half a preview pixel, in degrees
    pairs = []
    for index, (pair, path) in enumerate(results.alerts.items()):
        features, count = _alerts(path, max_alerts, tolerance)
        pairs.append({"label": f"{pair[0]}–{pair[1]}", "features": features, "count": count, "drawn": len(features),
                      "colour": _ALERT_COLOURS[index % len(_ALERT_COLOURS)]})
    vectors = {"regions": _regions(results.regions, tolerance) if results.regions else None, "pairs": pairs}
    map_header, map_html, map_script = _leaflet_map(results, grid, pictures, vectors)
    leaflet_js, leaflet_css, leaflet_version, leaflet_copyright, leaflet_license = _leaflet()
    header, rows = _table(results.rows)
    record = results.record
    pixel_size = record.get("pixel_size_m")
    scene_pixels = ("" if not pixel_size else " (the data's resolution)" if grid.factor == 1 else
                    f" (the data: {pixel_size} m; a mining-map pixel's opacity shows the share of its "
                    f"{grid.factor} x {grid.factor} map pixels mapped as mining)")
    version = package_version()
    template = Environment(autoescape=True).from_string(_resource("report.html.j2").read_text(encoding="utf-8"))
    return template.render(
        title=_title(results), version=version,
        lead=(f"Artisanal and small-scale gold mining mapped from Sentinel-1/2 composites with smallmines, "
              f"{len(results.years)} year{'s' * (len(results.years) > 1)}: {', '.join(map(str, results.years))}."),
        leaflet_js=leaflet_js, leaflet_css=leaflet_css, leaflet_version=leaflet_version,
        leaflet_copyright=leaflet_copyright, leaflet_license=leaflet_license,
        map_header=map_header, map_html=map_html, map_script=map_script,
        mining_rgb=previews.MINING_RGB, nodata_rgb=previews.NODATA_RGB, pairs=pairs, has_regions=bool(results.regions),
        region_colour=_REGION_COLOUR,
        preview_note=(f"Pictures are previews at about {grid.resolution_m:.0f} m per pixel{scene_pixels}; "
                      f"the GeoTIFFs in {results.folder.name} are the data."),
        table_note=("Map-based areas count the map's pixels, with the map's errors. Where a labelled sample was "
                    "given for a year, the error-adjusted area (Olofsson et al. 2014) with its 95 % interval stands "
                    "beside it. New, persistent and no longer mined: change from the previous year. No data: area "
                    "without valid imagery, where mining is unknown."),
        table_header=header, table_rows=rows,
        plot_url=_data_url(_plot_png(results.rows, results.years), "image/png"),
        run_info=_run_info(record, results), items=_items(record), folder_name=results.folder.name,
        data_files=[*((f"{y} composite, map", f"{results.composites[y].relative_to(results.folder)}, "
                                              f"{results.maps[y].relative_to(results.folder)}") for y in results.years),
                    *((f"new mining {a}–{b}", str(path.relative_to(results.folder)))
                      for (a, b), path in results.alerts.items()),
                    ("table", "monitor.csv, monitor.json")],
        written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _is_report(path):
    """Whether ``path`` is a report this package wrote: its head carries the generator marker of the template."""
    with open(path, "rb") as handle:
        return _GENERATOR_MARK in handle.read(4096)


def _check_target(out, folder, overwrite):
    """Refuse a report among the monitor folder's files, and over a file that is not an earlier report."""
    target, inside = out.resolve(), folder.resolve()
    if target.is_relative_to(inside) and not (target.parent == inside and target.suffix.lower() == ".html"):
        raise OutputError(f"the report {out} would be written among the files of the monitor folder {folder}, "
                          "which it reads; give an .html file directly in that folder, or one outside it")
    if target.is_file() and not overwrite and not _is_report(target):
        raise OutputError(f"{out} exists and is not a smallmines report; give another file, or --overwrite to "
                          "replace it")


def write_report(folder, out=None, *, preview_pixels=PREVIEW_PIXELS, max_alerts=MAX_ALERTS, progress=True,
                 overwrite=False):
    """Write one self-contained HTML report of a ``smallmines monitor`` folder.

    Parameters
    ----------
    folder : str or Path
        The ``--out`` folder of ``smallmines monitor`` (with ``monitor.json``).
    out : str or Path, optional
        The HTML file to write (default ``folder/report.html``).
    preview_pixels : int
        Pixel budget of each picture (width x height). The preview resolution
        is the scene's pixel size times the smallest whole factor that fits
        it; the page states the resolution.
    max_alerts : int
        New-mining polygons drawn per pair of years: the largest ones (the
        page says how many there are).
    progress : bool
        Show a progress bar over the years.
    overwrite : bool
        Replace an existing ``out`` that is not an earlier report (one this
        package wrote replaces without it: its ``<meta name="generator">`` says so).

    Returns
    -------
    Path
        ``out``, written atomically (it appears only when complete).

    Raises
    ------
    MonitorFolderError
        Not a complete monitor folder (see :func:`read_monitor`), or a GeoJSON file of it is broken.
    OutputError
        ``out`` is one of the folder's inputs, any other path inside the folder but an ``.html`` file directly in
        it, or an existing file that is not a report of this package (without ``overwrite``); all before any work.
    MissingExtraError
        folium or shapely missing (``pip install 'smallmines[maps]'``).

    Notes
    -----
    The page needs no network: Leaflet's script and stylesheet are inlined,
    the pictures are WebP data URLs, the plot a PNG data URL. Its size is
    bounded by the number of years times the picture budget (about 1 MB
    per year at the default budget, measured in ``benchmarks/RESULTS.md``),
    plus the polygons (at most ``max_alerts`` per pair, simplified to half
    a preview pixel). Memory holds the previews of every year (about 24 MB
    per year at the default budget), whatever the scene's size.
    """
    results = read_monitor(folder)
    out = results.folder / "report.html" if out is None else Path(out)
    check_output_not_input(out, *results.inputs)
    check_file_target(out)  # before the work, not after
    _check_target(out, results.folder, overwrite)
    page = render_report(results, preview_pixels=preview_pixels, max_alerts=max_alerts, progress=progress)
    page = page.encode("utf-8")
    with atomic_path(out, size=len(page)) as tmp:
        tmp.write_bytes(page)
    return out
