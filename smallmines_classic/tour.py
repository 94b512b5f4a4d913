"""The whole chain, offline, on a synthetic twin: what ``smallmines tour`` runs.

Eight steps, each the package's own function behind a command, on a landscape
whose mining is known:

1. **synth**: a synthetic twin of SmallMinesDS (2016 and 2022), square, so that
   its tiles mosaic into one scene (:func:`make_synthetic_smallminesds`);
2. **train**: a small random forest on RGB+ from its train split (the paper's
   preset with fewer trees and pixels);
3. **items**: local Sentinel-2 / Sentinel-1 / DEM STAC items for 2016, 2019
   and 2022 (:func:`write_twin_items`; 2019 is the west half of 2016's tiles
   beside the east half of 2022's), the input that the Planetary Computer
   gives online;
4. **regions**: the twin's west and east halves as two districts (GeoJSON,
   degrees);
5. **monitor**: composites, maps, areas per region, change and new-mining
   alerts for the three years (:func:`monitor`);
6. **sample**: a stratified sample of the 2022 map, its ``reference`` column
   filled from the twin's 2022 masks, as a labeller would fill it
   (:func:`stratified_sample`; with real data, ``smallmines label``);
7. **assess**: accuracy and the error-adjusted mined area of 2022
   (:func:`assess_map`), beside the twin's true area; then monitor again with
   the labelled sample, where only the assessment runs;
8. **report**: the self-contained HTML page (:func:`write_report`).

Each step sends ``log`` a line when it starts (with the command that does the
same) and one when it ends (its time and what it wrote).
"""

import contextlib
import shutil
import time
from pathlib import Path

import numpy as np

from ._backend import require
from .defaults import TOUR_POINTS, TOUR_TILES, TOUR_TREES
from .errors import InputError, OutputError

__all__ = ["TOUR_ENTRIES", "TOUR_YEARS", "run_tour"]

#: The years the tour monitors; 2019 is made of the twin's two years (see :func:`run_tour`).
TOUR_YEARS = (2016, 2019, 2022)
#: What the tour writes in its folder; ``overwrite=True`` removes these, and only these, first.
TOUR_ENTRIES = ("twin", "model.skops", "items", "regions.geojson", "monitor", "sample_2022_labelled.csv",
                "report.html")
#: What the tour needs of the ``maps`` extra: STAC items and composites, vector files, the report.
_NEEDS = ("pystac", "odc.stac", "dask.array", "shapely", "pyogrio", "folium", "jinja2")
_PIXEL_M, _TILE_PX, _EDGE_M = 10, 128, 20   # the twin's grid; the regions lie 20 m inside its outer edge


class _Steps:
    """Numbered steps: a line when each starts, one when it ends with its time and output."""

    def __init__(self, log, total):
        self.log, self.total, self.number = log or (lambda line: None), total, 0

    @contextlib.contextmanager
    def __call__(self, name, what, command, output):
        """``what`` the step does; ``command`` the command line that does the same (or how it is done otherwise);
        ``output`` what it writes. The block may set ``done["detail"]``: a few words after the output."""
        self.number += 1
        self.log(f"[{self.number}/{self.total}] {name}: {what}")
        self.log(f"      {command}")
        done, started = {}, time.perf_counter()
        yield done
        detail = f" ({done['detail']})" if done.get("detail") else ""
        self.log(f"      {time.perf_counter() - started:.1f} s -> {output}{detail}")


def _check(out, tiles, trees, points, overwrite):
    side = int(round(np.sqrt(tiles)))
    if side * side != tiles or side < 2:
        raise InputError(f"tiles must be a square number from 4 up (4, 9, 16, ...: the twin's tiles make a square "
                         f"scene, split into two regions), got {tiles}")
    if trees < 1:
        raise InputError(f"trees must be at least 1, got {trees}")
    if points < 20:
        raise InputError(f"points must be at least 20 (10 per map class), got {points}")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give the tour a new or empty folder")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not overwrite:
        raise OutputError(f"{out} is not empty (it holds {', '.join(held[:5])}{' ...' if len(held) > 5 else ''}); "
                          "give a new or empty folder, or overwrite=True (--overwrite) to replace a previous tour")
    return side


def _clear(out):
    """Remove a previous tour's entries from ``out``, and nothing else."""
    for name in TOUR_ENTRIES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _regions(path, side):
    """The twin's west and east halves, 20 m inside its outer edges, as two regions in degrees (GeoJSON)."""
    import rasterio.warp

    from .io.synthetic import CRS_EPSG, ORIGIN
    from .io.vectors import WGS84, write_vector

    geometry = require("shapely.geometry", "maps")
    left, top = ORIGIN
    width = side * _TILE_PX * _PIXEL_M
    halves = {"West": (left + _EDGE_M, top - width + _EDGE_M, left + width / 2, top - _EDGE_M),
              "East": (left + width / 2, top - width + _EDGE_M, left + width - _EDGE_M, top - _EDGE_M)}
    degrees = [geometry.shape(rasterio.warp.transform_geom(f"EPSG:{CRS_EPSG}", WGS84, geometry.mapping(
        geometry.box(*bounds)))) for bounds in halves.values()]
    return write_vector(path, {"name": np.array(list(halves), dtype=object)}, degrees, crs=WGS84,
                        geometry_type="Polygon", layer="regions", what="regions")


def _truth_on_map(twin, tiles, map_path):
    """The twin's 2022 masks on the 2022 map's grid (255 off the twin), the map's classes and its pixel area."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    from .io.raster import MAP_NODATA
    from .io.twin_items import twin_mosaic

    masks, transform, crs = twin_mosaic(twin, tiles, 2022, kind="MASK")
    with rasterio.open(map_path) as src:
        classes, map_transform, map_crs = src.read(1), src.transform, src.crs
    truth = np.full(classes.shape, MAP_NODATA, np.uint8)
    reproject(masks[0], truth, src_transform=transform, src_crs=crs, dst_transform=map_transform, dst_crs=map_crs,
              resampling=Resampling.nearest, src_nodata=None, dst_nodata=MAP_NODATA)
    return truth, classes, map_transform, abs(map_transform.a * map_transform.e)


def _label_from_truth(points, truth, transform):
    """The reference class of each sample point, read from the truth at its x, y (the map's CRS)."""
    from rasterio.transform import rowcol

    rows, cols = rowcol(transform, points["x"], points["y"])
    return truth[np.asarray(rows), np.asarray(cols)]


def run_tour(out, *, tiles=TOUR_TILES, trees=TOUR_TREES, points=TOUR_POINTS, seed=0, n_jobs=-1, overwrite=False,
             progress=False, log=print):
    """Run the whole chain offline on a synthetic twin, into one folder (see the module docstring).

    Parameters
    ----------
    out : str or Path
        A new or empty folder (or, with ``overwrite``, a previous tour's).
    tiles : int
        Tiles of the twin per year, a square number from 4 up (16: 512 x 512 px, about 5 x 5 km).
    trees : int
        Trees of the random forest (the paper: 300).
    points : int
        Sample points drawn on the 2022 map (at least 40 % of them in each map class).
    seed : int
        Seeds the twin, the forest and the sample.
    n_jobs : int
        Forest threads (-1: every core).
    overwrite : bool
        Remove a previous tour's files (:data:`TOUR_ENTRIES`, nothing else) from ``out`` first.
    progress : bool
        Progress bars of the steps.
    log : callable or None
        Receives the steps' lines (None: silence).

    Returns
    -------
    dict
        The paths written (``twin``, ``model``, ``items``, ``regions``, ``monitor``, ``labels``, ``report``),
        ``summary`` (what ``monitor.json`` holds, with the error-adjusted areas of 2022), ``assessment``
        (:func:`assess_map`'s report) and ``true_mined_ha`` (the twin's mined area of 2022 where the map has data).

    Raises
    ------
    InputError
        Tiles that are not a square number from 4 up, fewer than one tree or 20 points.
    OutputError
        A folder that is not empty, without ``overwrite``.
    MissingExtraError
        Without the ``maps`` extra (checked before any work).
    """
    from .assessment import assess_map, stratified_sample, write_points
    from .io.dataset import load_smallminesds
    from .io.synthetic import make_synthetic_smallminesds
    from .io.twin_items import write_twin_items
    from .models.forest import RandomForestSegmenter
    from .monitoring import monitor, write_report

    out = Path(out)
    side = _check(out, tiles, trees, points, overwrite)
    for module in _NEEDS:
        require(module, "maps")
    if overwrite:
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / entry for name, entry in zip(("twin", "model", "items", "regions", "monitor", "labels",
                                                      "report"), TOUR_ENTRIES)}
    step = _Steps(log, 8)
    years = " ".join(map(str, TOUR_YEARS))
    if log:
        log(f"smallmines tour: the whole chain, offline, on a synthetic twin, in {out}")

    with step("synth", f"a synthetic twin of SmallMinesDS, {tiles} tiles x 2 years (2016, 2022)",
              f"$ smallmines synth -o {paths['twin']} --tiles {tiles} --seed {seed}", paths["twin"]):
        make_synthetic_smallminesds(paths["twin"], tiles, seed=seed, progress=progress)

    with step("train", f"a random forest of {trees} trees on RGB+ from the twin's train split",
              f"$ smallmines train {paths['twin']} -o {paths['model']} --trees {trees} --max-pixels 100000",
              paths["model"]) as done:
        data = load_smallminesds(paths["twin"], split="train", progress=progress)
        model = RandomForestSegmenter.from_preset("paper-rgb+", n_estimators=trees, max_pixels=100_000,
                                                  random_state=seed, n_jobs=n_jobs, verbose=progress)
        model.fit(data.images, data.masks, data.band_names)
        model.set_params(verbose=False).save(paths["model"])
        done["detail"] = f"{model.n_training_pixels_:,} pixels of {len(data)} patches"
        del data

    tile_ids = list(range(1, tiles + 1))
    west = {tile for tile in tile_ids if (tile - 1) % side < side // 2}
    sources = {2016: 2016, 2019: {tile: 2016 if tile in west else 2022 for tile in tile_ids}, 2022: 2022}
    with step("items", f"local Sentinel-2, Sentinel-1 and DEM STAC items of {years} from the twin",
              "(in Python: smallmines_classic.write_twin_items; online, smallmines searches the Planetary Computer)",
              paths["items"] / "items.json") as done:
        items = write_twin_items(paths["twin"], paths["items"], tile_ids, sources)
        done["detail"] = "2019: the west half of 2016's tiles beside the east half of 2022's"

    with step("regions", "the twin's west and east halves as two districts, in degrees",
              "(any polygons do: GeoPackage, GeoJSON, Shapefile; in any CRS)", paths["regions"]):
        _regions(paths["regions"], side)

    monitor_args = dict(items=items, progress=progress, log=None)
    with step("monitor", f"composites, maps, areas per region, change and new-mining alerts for {years}",
              f"$ smallmines monitor --regions {paths['regions']} --field name --years {years} "
              f"--model {paths['model']} --items {items} -o {paths['monitor']}",
              paths["monitor"]) as done:
        summary = monitor(paths["monitor"], paths["regions"], "name", TOUR_YEARS, paths["model"], **monitor_args)
        done["detail"] = "monitor.json, monitor.csv, a map per year, change maps, alerts"

    map_2022 = paths["monitor"] / "2022" / "map.tif"
    per_class = points * 2 // 5
    with step("sample", f"{points} points of the 2022 map, stratified, labelled from the twin's 2022 masks",
              f"$ smallmines sample {map_2022} --n {points} --min-per-class {per_class} -o {out / 'sample_2022.csv'}; "
              "then label each point (smallmines label), here from the twin's truth", paths["labels"]) as done:
        truth, classes, transform, pixel_m2 = _truth_on_map(paths["twin"], tile_ids, map_2022)
        sample, _, crs = stratified_sample(map_2022, points, min_per_class=per_class, seed=seed)
        sample["reference"] = _label_from_truth(sample, truth, transform)
        write_points(sample, paths["labels"], crs)
        done["detail"] = f"{int(np.sum(sample['reference'] != sample['map_class']))} of {points} points mapped wrong"

    with step("assess", "accuracy and the error-adjusted mined area of 2022; monitor again with the labelled sample",
              f"$ smallmines assess {map_2022} {paths['labels']}; smallmines monitor ... --assess "
              f"2022={paths['labels']}", paths["monitor"] / "monitor.csv") as done:
        assessment = assess_map(map_2022, paths["labels"])
        summary = monitor(paths["monitor"], paths["regions"], "name", TOUR_YEARS, paths["model"],
                          assess={2022: paths["labels"]}, **monitor_args)
        estimate = assessment["estimate"]
        true_ha = float(np.count_nonzero((truth == 1) & (classes <= 1)) * pixel_m2 / 1e4)
        done["detail"] = (f"overall accuracy {estimate.overall_accuracy:.3f} ± {estimate.overall_accuracy_ci:.3f}; "
                          f"mined 2022: mapped {assessment['mapped_pixels'][1] * pixel_m2 / 1e4:.1f} ha, "
                          f"error-adjusted {estimate.area[1] / 1e4:.1f} ± {estimate.area_ci[1] / 1e4:.1f} ha, "
                          f"the twin's truth {true_ha:.1f} ha")

    with step("report", "one HTML page: maps of every year, the region x year table, a plot, what was run",
              f"$ smallmines report {paths['monitor']} -o {paths['report']}", paths["report"]):
        write_report(paths["monitor"], paths["report"], progress=progress)

    return {**paths, "items": items, "summary": summary, "assessment": assessment, "true_mined_ha": true_ha}
