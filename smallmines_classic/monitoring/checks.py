"""What ``smallmines monitor`` checks before any work: the years, the labelled samples, the output folder, the items.

A run builds composites and maps for minutes to hours; an input that would
fail a later step is refused here instead, before the first composite.
"""

import warnings
from pathlib import Path

import numpy as np

from .._backend import require
from .._guards import check_output_not_input
from ..assessment.labels import unsure_rows
from ..assessment.points import point_labels, read_points
from ..errors import CompositeError, InputError, OutputError, PointsError
from ..io.stac import S2_COLLECTION, find_items, select_items, with_s1
from .steps import STEPS_FOLDER

__all__ = ["check_years", "check_labelled_sample", "check_out", "year_items"]

#: Share of the box the Sentinel-2 items of a year must cover before a warning says the rest will be no data.
_COVERED = 0.999


def check_years(years, assess):
    """The years, sorted, and ``{year: Path}`` of the labelled samples, each checked by :func:`check_labelled_sample`.

    Raises
    ------
    InputError
        Years that are not distinct whole numbers; a sample of a year not among them.
    PointsError
        A sample that is missing, unreadable or unlabelled.
    """
    try:
        years = [int(year) for year in years]
    except (TypeError, ValueError):
        raise InputError(f"years must be whole numbers, got {years!r}") from None
    if not years or len(set(years)) != len(years):
        raise InputError(f"years must be one or more distinct years, got {years}")
    assess = {int(year): Path(path) for year, path in (assess or {}).items()}
    for year, path in assess.items():
        if year not in years:
            raise InputError(f"a labelled sample is given for {year}, which is not one of the years {sorted(years)}")
        check_labelled_sample(year, path)
    return sorted(years), assess


def check_labelled_sample(year, path):
    """Refuse a labelled sample that the year's assessment would refuse once its map is made.

    The file must exist and be readable as points, and every point must
    have a ``map_class`` (0 or 1) and a ``reference`` label (0 or 1, or an
    unsure answer); at least one point must be labelled. Whether the points
    lie on the map, with its classes, is checked when the map exists.

    Raises
    ------
    PointsError
        Naming the year, the file and (for a point) its row.
    """
    path = Path(path)
    if not path.is_file():
        raise PointsError(f"the labelled sample for {year}, {path}, does not exist")
    try:
        points = read_points(path)
        point_labels(points, "map_class", path, 2)   # the per-region areas need it (a CEO export has none)
        if "reference" not in points:
            raise PointsError(f"{path} has no column 'reference': label the sample first (smallmines label)")
        unsure = unsure_rows(points, "reference")
        if unsure.all():
            raise PointsError(f"{path}: none of its {unsure.size} point(s) is labelled (all unsure)")
        given = np.asarray(points["reference"], dtype=object)
        point_labels({**points, "reference": np.where(unsure, "0", given)}, "reference", path, 2)
    except PointsError as error:
        raise PointsError(f"the labelled sample for {year} cannot be used: {error}") from None


def check_out(out, inputs, outputs):
    """Refuse a folder that holds other things than a monitoring run, and outputs that are inputs."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not ((out / STEPS_FOLDER).is_dir() or (out / "monitor.json").is_file()):
        raise OutputError(f"{out} holds other files and no monitoring run; choose a new or empty folder")
    for path in outputs:
        check_output_not_input(out / path, *inputs)


def _covered_share(selection, bbox):
    """Share of the box (W S E N degrees) inside the footprints of the selection's Sentinel-2 items."""
    shapely = require("shapely", "maps")
    geometry = require("shapely.geometry", "maps")
    box = geometry.box(*bbox)
    footprints = [geometry.shape(item.geometry) if item.geometry else geometry.box(*item.bbox)
                  for item in selection.s2]
    return shapely.union_all(footprints).intersection(box).area / box.area


def year_items(items, stac_url, query, years, s1_source=None):
    """``{year: ItemSelection}``: what each year's composite reads, found and selected once.

    A year without Sentinel-2 is refused up front, before any work; a year
    whose Sentinel-2 items cover less than the box gets a warning (the rest
    of the box will be no data). ``query`` holds the checked box and months.
    """
    found = None if items is None else find_items(items, query)   # a file or given items: read once for every year
    out = {}
    for year in years:
        year_query = query._replace(year=year)
        items_found, source, inputs = found or find_items(None, year_query, stac_url)
        out[year] = with_s1(select_items(items_found, year_query, source, inputs), s1_source)
        if not out[year].s2:
            raise CompositeError(f"no {S2_COLLECTION} item of {source} covers the box {list(query.bbox)} in {year}, "
                                 f"months {query.months}: no composite can be made for that year")
        share = _covered_share(out[year], query.bbox)
        if share < _COVERED:
            warnings.warn(f"the {S2_COLLECTION} items of {source} in {year} cover {share:.1%} of the box "
                          f"{list(query.bbox)}: the rest of the box will be no data in {year}", RuntimeWarning,
                          stacklevel=3)
    return out
