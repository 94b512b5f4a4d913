"""Every region, every year: composites, mining maps, areas, change and new-mining alerts, in one resumable run.

:func:`monitor` writes one folder (the layout below is a contract: ``smallmines
report`` reads it)::

    DIR/monitor.json              the run and the table; written last
    DIR/monitor.csv               the table: one row per region x year, and "(all)", the whole box
    DIR/regions.geojson           the regions in WGS 84, property "name"
    DIR/YEAR/composite.tif        13-band composite (build_composite) and YEAR/composite_obs.tif
    DIR/YEAR/map.tif              mining map (predict_scene): band 1 0/1 (255 nodata), band 2 probability %
    DIR/change_Y0_Y1.tif          change between consecutive years (change_map)
    DIR/alerts_Y0_Y1.geojson      new-mining polygons >= min_area_m2 in WGS 84 (and .gpkg), each with its region
    DIR/steps/*.json              one record per step, for resuming (see :mod:`.steps`)

Steps run in this order, each skipped when its record shows it done with the
same inputs and its outputs unchanged: regions; then per year the composite,
the map, (from the second year) the change from the previous year and its
alerts, the year's areas, and the error-adjusted area where a labelled sample
is given.
"""

import contextlib
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import rasterio

from .._backend import require
from .._cells import csv_writer
from .._locks import exclusive_lock
from .._writes import atomic_path, sweep_stale
from ..assessment import write_json
from ..errors import InputError, ModelFileError, SessionLockedError
from ..io.composite import composite_grid, write_composite
from ..io.stac import DEM_ASSET, PLANETARY_COMPUTER, S1_ASSETS, S2_ASSETS, ItemQuery, check_bbox, check_months
from ..mapping.analysis import change_map
from ..mapping.scene import predict_scene
from ..models.persistence import installed_versions, load_model, package_version
from .alerts import write_alerts
from .areas import adjusted_areas, year_areas
from .checks import check_out, check_years, year_items
from .regions import ALL, Regions
from .steps import STEPS_FOLDER, StepRunner, href_identity, sha256

__all__ = ["FORMAT", "FORMAT_VERSION", "RECIPE_VERSION", "TABLE_COLUMNS", "monitor", "year_files", "pair_files"]

FORMAT, FORMAT_VERSION = "smallmines-monitor", 1
#: Raised whenever a change to this module alters what a step makes from the same inputs, so older records are redone.
RECIPE_VERSION = 1
#: The table's columns (monitor.csv, and the keys of each row of monitor.json).
TABLE_COLUMNS = ("region", "year", "mined_ha", "nodata_ha", "area_basis", "adjusted_ha", "adjusted_ha_ci", "new_ha",
                 "persistent_ha", "no_longer_ha", "alerts", "observed_share")
_CHANGE_COLUMNS = ("new_ha", "persistent_ha", "no_longer_ha")
_READ_ASSETS = {*S2_ASSETS, "SCL", *S1_ASSETS, DEM_ASSET}
_LOCK = ".monitor.lock"
_AREA_ROWS = 2  # what an areas step returns; 2: with observed_share, and None for a region not observed


def year_files(year):
    """The files of one year, relative to the output folder (see the module docstring)."""
    return {"composite": f"{year}/composite.tif", "composite_obs": f"{year}/composite_obs.tif",
            "map": f"{year}/map.tif"}


def pair_files(before, after):
    """The files of the change between two years, relative to the output folder."""
    return {"change": f"change_{before}_{after}.tif", "alerts": f"alerts_{before}_{after}.geojson",
            "alerts_gpkg": f"alerts_{before}_{after}.gpkg"}


def _item_identity(item):
    """An item as the composite reads it: id, collection, time, baseline and the assets it uses."""
    return {"id": item.id, "collection": item.collection_id, "datetime": str(item.datetime),
            "baseline": item.properties.get("s2:processing_baseline"),
            "assets": {key: href_identity(asset.href) for key, asset in sorted(item.assets.items())
                       if key in _READ_ASSETS}}


@contextlib.contextmanager
def _locked(out):
    """Hold an exclusive lock on ``out`` for the run: two runs writing one folder would mix their files."""
    with exclusive_lock(out / _LOCK, SessionLockedError(f"another smallmines monitor run is writing {out}; "
                                                        "wait for it to end")):
        yield


def _command(out, regions, field, years, model, bbox, items, stac_url, months, min_area_m2, assess, s1_source):
    """The ``smallmines monitor`` command line that does what this call does."""
    command = ["smallmines", "monitor", "--regions", str(regions), "--field", field, "--years", *map(str, years),
               "--model", str(model)]
    if bbox is not None:
        command += ["--bbox", *map(str, bbox)]
    if isinstance(items, (str, Path)):
        command += ["--items", str(items)]
    elif items is None and stac_url != PLANETARY_COMPUTER:
        command += ["--stac", stac_url]
    if isinstance(s1_source, (str, Path)):
        command += ["--s1-stac", str(s1_source)]
    command += ["--months", *map(str, months)]
    if min_area_m2:
        command += ["--min-area", f"{min_area_m2:g}"]
    command += [arg for year, path in assess.items() for arg in ("--assess", f"{year}={path}")]
    return command + ["--out", str(out)]


class _Run:
    """One monitoring run: its inputs, its steps and what they returned."""

    def __init__(self, out, regions, years, model, bbox, items, months, min_area_m2, assess, predict, progress, log,
                 client=None):
        self.out, self.regions, self.years, self.model_path = out, regions, years, Path(model)
        self.bbox, self.items, self.months, self.min_area_m2, self.assess = bbox, items, months, min_area_m2, assess
        self.predict, self.progress, self.client = predict, progress, client
        self.runner = StepRunner(out, log, self._summary_stale)
        self.common = {"recipe": RECIPE_VERSION, "smallmines": package_version()}
        self.model_sha256 = sha256(self.model_path)
        self._model = None
        self.hashes, self.results = self.runner.hashes, {}

    def _summary_stale(self):
        """Files are about to change: the summary of the last complete run no longer describes them."""
        for name in ("monitor.json", "monitor.csv"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.out / name)

    def step(self, name, inputs, outputs, work):
        self.results[name] = self.runner.run(name, {**inputs, **self.common}, outputs, work)

    def model(self):
        if self._model is None:
            self._model = load_model(self.model_path)
        return self._model

    def regions_step(self):
        self.step("regions", {"regions": self.regions.identity}, ["regions.geojson"],
                  lambda: self.regions.write_geojson(self.out / "regions.geojson"))

    def composite(self, year):
        selection = self.items[year]
        files = year_files(year)

        def work():
            # The client is not among the step's inputs: a composite is the same bytes on a cluster or here.
            write_composite(selection, self.out / files["composite"], progress=self.progress, client=self.client)
            return selection.counts

        inputs = {"bbox": list(self.bbox), "year": year, "months": self.months,
                  "items": sorted((_item_identity(item) for item in selection.items),
                                  key=lambda i: (i["collection"], i["id"]))}
        self.step(f"composite {year}", inputs, [files["composite"], files["composite_obs"]], work)

    def map(self, year):
        files = year_files(year)

        def work():
            model = self.model()
            predict_scene(model, self.out / files["composite"], self.out / files["map"], probability=True,
                          progress=self.progress, **self.predict)
            return {"class": type(model).__name__, "band_names": list(model.band_names_)}

        inputs = {"model": self.model_sha256, "composite": self.hashes[files["composite"]], **self.predict}
        self.step(f"map {year}", inputs, [files["map"]], work)

    def change(self, before, after):
        old, new, out = year_files(before)["map"], year_files(after)["map"], pair_files(before, after)["change"]
        self.step(f"change {before}-{after}", {"old": self.hashes[old], "new": self.hashes[new]}, [out],
                  lambda: change_map(self.out / old, self.out / new, self.out / out))

    def alerts(self, before, after):
        files = pair_files(before, after)
        outputs = [files["alerts"], files["alerts_gpkg"]]
        inputs = {"change": self.hashes[files["change"]], "regions": self.regions.identity,
                  "min_area_m2": self.min_area_m2}
        self.step(f"alerts {before}-{after}", inputs, outputs,
                  lambda: write_alerts(self.out / files["change"], [self.out / o for o in outputs], self.regions,
                                       before, after, self.min_area_m2))

    def areas(self, year, before):
        map_file = year_files(year)["map"]
        change = None if before is None else pair_files(before, year)["change"]
        inputs = {"map": self.hashes[map_file], "change": change and self.hashes[change],
                  "regions": self.regions.identity, "rows": _AREA_ROWS}
        self.step(f"areas {year}", inputs, [],
                  lambda: year_areas(self.out / map_file, change and self.out / change, self.regions))

    def adjusted(self, year):
        map_file, points = year_files(year)["map"], self.assess[year]
        inputs = {"map": self.hashes[map_file], "points": sha256(points), "regions": self.regions.identity}
        self.step(f"assess {year}", inputs, [], lambda: adjusted_areas(self.out / map_file, points, self.regions))

    def run(self):
        self.regions_step()
        before = None
        for year in self.years:
            self.composite(year)
            self.map(year)
            if before is not None:
                self.change(before, year)
                self.alerts(before, year)
            self.areas(year, before)
            if year in self.assess:
                self.adjusted(year)
            before = year

    def rows(self):
        rows = []
        for index, year in enumerate(self.years):
            areas = self.results[f"areas {year}"]
            adjusted = self.results.get(f"assess {year}", {})
            alerts = self.results.get(f"alerts {self.years[index - 1]}-{year}") if index else None
            for name in (ALL, *self.regions.names):
                row = dict.fromkeys(TABLE_COLUMNS)
                row.update(region=name, year=year, mined_ha=areas[name]["mined_ha"], nodata_ha=areas[name]["nodata_ha"],
                           area_basis="map", observed_share=areas[name]["observed_share"])
                if adjusted.get(name):
                    row.update(area_basis="map+sample", adjusted_ha=adjusted[name]["adjusted_ha"],
                               adjusted_ha_ci=adjusted[name]["adjusted_ha_ci"])
                if not row["observed_share"]:   # nothing observed: no area of it is known
                    row["area_basis"] = None
                elif alerts is not None:
                    row.update({key: areas[name][key] for key in _CHANGE_COLUMNS},
                               alerts=alerts["count"] if name == ALL else alerts["regions"][name])
                rows.append(row)
        return rows


def _write_table(path, rows):
    """The rows as CSV (UTF-8; null as an empty field), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(["" if row[key] is None else row[key] for key in TABLE_COLUMNS] for row in rows)


def monitor(out, regions, field, years, model, *, bbox=None, items=None, stac_url=PLANETARY_COMPUTER, months=(1,),
            min_area_m2=0.0, assess=None, window_size=1024, overlap=64, progress=True, log=print, client=None,
            s1_source=None):
    """Map mining every year over a box and report it per region: composites, maps, areas, change, alerts.

    Parameters
    ----------
    out : str or Path
        Output folder (see the module docstring for what it holds). A new or
        empty folder, or one a previous run wrote: finished steps are then
        skipped (see :mod:`smallmines_classic.monitoring.steps`).
    regions : str or Path
        Polygons (GeoPackage, GeoJSON, Shapefile, ...) in any CRS.
    field : str
        The attribute that names the regions (unique names).
    years : sequence of int
        Years to map; change and alerts are between consecutive ones.
    model : str or Path
        A model file (``smallmines train``, or any smallmines model file).
    bbox : sequence of 4 float or None
        West, south, east, north in degrees; None takes the regions' extent.
    items : str, Path, iterable of pystac.Item or None
        A local STAC ItemCollection (may hold several years' items: each
        year's composite takes those of its year and months), or items; None
        searches ``stac_url``.
    stac_url : str
        A STAC API's URL or a catalog's name (``planetary-computer``, ``earth-search``).
    s1_source : str, Path, iterable of pystac.Item or None
        Where Sentinel-1 comes from instead, as in :func:`~smallmines_classic.io.composite.build_composite`.
    months : sequence of int
        Months of each year to composite (default January, as SmallMinesDS).
    min_area_m2 : float
        Smallest new-mining polygon reported as an alert.
    assess : dict or None
        ``{year: labelled points file}`` (``smallmines sample`` on that year's
        map, labelled): the year's error-adjusted area goes beside its map area.
    window_size, overlap : int
        As :func:`smallmines_classic.predict_scene`.
    progress : bool
        Progress bars.
    log : callable or None
        Receives one line per step (skipped / done / redone, the time, why
        redone); None for silence.
    client : dask.distributed.Client or None
        Build the composites on this Dask cluster (one window a task, the
        same bytes as here; see :func:`~smallmines_classic.build_composite`).

    Returns
    -------
    dict
        What ``monitor.json`` holds (the run, and ``rows``: the table).

    Raises
    ------
    InputError
        Bad years, box, months or ``min_area_m2``.
    RegionsError, PointsError, ModelFileError
        Regions that cannot be used; a labelled sample that does not exist, cannot be read or holds no labels (all
        checked before any work, see :func:`~smallmines_classic.monitoring.checks.check_labelled_sample`); a model
        file that does not exist.
    OutputError
        An ``out`` that is a file or holds other files, or an output that is an input.
    CompositeError
        A year without Sentinel-2 items (checked before any work).
    SessionLockedError
        Another run is writing ``out``.

    Warns
    -----
    SmallminesWarning
        Invalid region polygons, repaired (see :class:`~smallmines_classic.monitoring.regions.Regions`).
    RuntimeWarning
        Regions that reach beyond the box; a year whose Sentinel-2 items cover less than the box.
    """
    out = Path(out)
    years, assess = check_years(years, assess)
    months = check_months(months)
    min_area_m2 = float(min_area_m2)
    if not min_area_m2 >= 0:
        raise InputError(f"min_area_m2 must be a number of square metres >= 0, got {min_area_m2}")
    if not Path(model).is_file():
        raise ModelFileError(f"model file {model} does not exist")
    given_bbox = bbox
    region_set = Regions(regions, field)
    # The box and months are checked here, once: the query carries them to the items and the composites.
    query = ItemQuery(check_bbox(bbox) if bbox is not None else tuple(region_set.bbox()), years[0], months)
    bbox = query.bbox
    crs, transform, width, height = composite_grid(query)
    box = require("shapely.geometry", "maps").box(*_grid_bounds(transform, width, height))
    outside = region_set.outside(crs, box)
    if outside:
        warnings.warn(f"the regions {outside} reach beyond the box {[round(v, 6) for v in bbox]}: their areas count "
                      "only the pixels inside it", RuntimeWarning, stacklevel=2)
    outputs = ["monitor.json", "monitor.csv", "regions.geojson", *(f for y in years for f in year_files(y).values()),
               *(f for a, b in zip(years, years[1:]) for f in pair_files(a, b).values())]
    check_out(out, [model, regions, items if isinstance(items, (str, Path)) else None, *assess.values()], outputs)
    selections = year_items(items, stac_url, query, years, s1_source)

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _locked(out):
        for folder in (out, out / STEPS_FOLDER, *(out / str(year) for year in years)):
            sweep_stale(folder)
        run = _Run(out, region_set, years, model, bbox, selections, months, min_area_m2, assess,
                   {"window_size": window_size, "overlap": overlap}, progress, log, client)
        run.run()
        summary = _summary(run, regions, field, model, crs, given_bbox, items, stac_url, min_area_m2,
                           time.monotonic() - started, s1_source)
        _write_table(out / "monitor.csv", summary["rows"])
        write_json(out / "monitor.json", summary)
    return summary


def _grid_bounds(transform, width, height):
    return transform.c, transform.f + transform.e * height, transform.c + transform.a * width, transform.f


def _summary(run, regions, field, model, crs, given_bbox, items, stac_url, min_area_m2, seconds, s1_source):
    first_map = run.results[f"map {run.years[0]}"]
    with rasterio.open(run.out / year_files(run.years[0])["composite"]) as src:
        recipe = src.tags().get("recipe")
    files = {str(year): year_files(year) for year in run.years}
    files.update({f"{a}-{b}": pair_files(a, b) for a, b in zip(run.years, run.years[1:])})
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "smallmines_version": package_version(),
        "command": _command(run.out, regions, field, run.years, model, given_bbox, items, stac_url, run.months,
                            min_area_m2, run.assess, s1_source),
        "model": {"path": str(model), "class": first_map["class"], "band_names": first_map["band_names"],
                  "sha256": run.model_sha256},
        "recipe": recipe,
        "months": run.months,
        "bbox": [float(v) for v in run.bbox], "crs": crs.to_string(), "pixel_size_m": 10,
        "regions": {"path": str(regions), "field": field, "names": run.regions.names, "geojson": "regions.geojson"},
        "years": run.years,
        "items": {str(year): {"source": selection.source, **selection.counts,
                              "ids": sorted(item.id for item in selection.items)}
                  for year, selection in run.items.items()},
        "versions": {"smallmines": package_version(), "python": sys.version.split()[0],
                     "gdal": rasterio.__gdal_version__,
                     **installed_versions("numpy", "rasterio", "scikit-learn", "odc-stac", "pystac", "shapely",
                                          "pyogrio")},
        "min_area_m2": min_area_m2,
        "assess": {str(year): {"points": str(path), "sha256": sha256(path),
                               "points_n": run.results[f"assess {year}"][ALL]["points"]}
                   for year, path in run.assess.items()},
        "files": files,   # the contract: a year or "Y0-Y1" -> an object of paths
        "table": "monitor.csv",
        "checksums": dict(sorted(run.hashes.items())),
        "steps": run.runner.records,
        "seconds": round(seconds, 3),
        "rows": run.rows(),
    }
