"""A ``smallmines monitor`` folder, read and checked: ``monitor.json`` and the files it names.

The folder's layout is the monitor contract (docs/monitoring.md, "A report anyone can open"):
``monitor.json`` (the run and the region x year table, written last),
``YEAR/composite.tif``, ``YEAR/map.tif``, ``alerts_Y0_Y1.geojson`` and
``regions.geojson`` are what a report reads. Paths given under
``files`` in ``monitor.json`` take precedence over that layout; they must
stay inside the folder. Keys this reader does not know are ignored.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MonitorFolderError

__all__ = ["MonitorFolderError", "MonitorResults", "read_monitor", "FORMAT", "FORMAT_VERSION"]

FORMAT = "smallmines-monitor"
FORMAT_VERSION = 1
#: The row fields that must be numbers, and those that may be null (the change fields are null in the first year).
_NUMBERS = ("mined_ha", "nodata_ha")
_OPTIONAL_NUMBERS = ("adjusted_ha", "adjusted_ha_ci", "new_ha", "persistent_ha", "no_longer_ha", "alerts")


@dataclass(frozen=True)
class MonitorResults:
    """What a monitor folder holds.

    Attributes
    ----------
    folder : Path
    record : dict
        ``monitor.json`` as read (the run's description; unknown keys kept).
    years : list of int
    rows : list of dict
        The region x year table, in the file's order.
    composites, maps : dict
        Year -> path of the year's composite and mining map.
    alerts : dict
        (year_from, year_to) -> path of the new-mining polygons (GeoJSON), for consecutive years.
    regions : Path or None
        The regions (GeoJSON, WGS 84), if the folder has them.
    """

    folder: Path
    record: dict
    years: list
    rows: list
    composites: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)
    alerts: dict = field(default_factory=dict)
    regions: Path | None = None

    @property
    def inputs(self):
        """Every file the results are read from: a report written over one of them would destroy it."""
        return [self.folder / "monitor.json", *self.composites.values(), *self.maps.values(), *self.alerts.values(),
                self.regions]


def _fail(path, message):
    raise MonitorFolderError(f"{path}: {message}")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_rows(path, rows, years):
    if not isinstance(rows, list) or not rows:
        _fail(path, f"'rows' must be a non-empty list of region x year rows, got {rows!r:.80}")
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, dict):
            _fail(path, f"{where} must be an object, got {type(row).__name__}")
        if not isinstance(row.get("region"), str) or not row["region"]:
            _fail(path, f"{where}: 'region' must be a name, got {row.get('region')!r}")
        if row.get("year") not in years:
            _fail(path, f"{where}: 'year' {row.get('year')!r} is not one of the run's years {years}")
        for key in _NUMBERS:
            if not _is_number(row.get(key)):
                _fail(path, f"{where}: {key!r} must be a number, got {row.get(key)!r}")
        for key in _OPTIONAL_NUMBERS:
            if row.get(key) is not None and not _is_number(row[key]):
                _fail(path, f"{where}: {key!r} must be a number or null, got {row[key]!r}")
        if (row.get("adjusted_ha") is None) != (row.get("adjusted_ha_ci") is None):
            _fail(path, f"{where}: 'adjusted_ha' and 'adjusted_ha_ci' must both be given or both be null")


def _inside(folder, relative, path, key):
    """``relative`` resolved in ``folder``; refused if it leads out of the folder (a report would embed that file)."""
    if not isinstance(relative, str) or not relative:
        _fail(path, f"files{key} must be a path relative to the folder, got {relative!r}")
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        _fail(path, f"files{key} = {relative!r} points outside {folder}")
    return folder / relative


def _existing(path, target, what):
    if not target.is_file():
        _fail(path, f"{what} {target} is missing: the folder is incomplete (rerun `smallmines monitor` to finish it)")
    return target


def read_monitor(folder):
    """Read and check a ``smallmines monitor`` output folder.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    MonitorResults

    Raises
    ------
    MonitorFolderError
        No folder, or no ``monitor.json`` in it (not a monitor folder, or a
        run that has not finished: ``monitor.json`` is written last);
        ``monitor.json`` is not valid JSON, of another format or a newer
        version, lacks its years or rows, has a row with a missing or
        non-numeric field or a year outside the run, names a file outside
        the folder, or a file it needs is missing. The message names the
        file and the row or key.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MonitorFolderError(f"{folder} is not a folder: give the --out folder of `smallmines monitor`")
    path = folder / "monitor.json"
    if not path.is_file():
        raise MonitorFolderError(f"{folder} has no monitor.json: not a `smallmines monitor` folder, or its run has "
                                 "not finished (monitor.json is written last)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        _fail(path, f"not UTF-8 text ({error.reason} at byte {error.start})")
    except json.JSONDecodeError as error:
        _fail(path, f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        _fail(path, f"not a {FORMAT} file (its 'format' is "
                    f"{record.get('format') if isinstance(record, dict) else type(record).__name__!r})")
    version = record.get("format_version")
    if not isinstance(version, int) or version < 1:
        _fail(path, f"'format_version' must be a whole number >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        _fail(path, f"format_version {version} was written by a newer smallmines; this one reads up to "
                    f"{FORMAT_VERSION}: upgrade smallmines")
    years = record.get("years")
    if not (isinstance(years, list) and years and all(type(y) is int for y in years)):
        _fail(path, f"'years' must be a non-empty list of years, got {years!r}")
    if years != sorted(set(years)):
        _fail(path, f"'years' must be increasing and distinct, got {years}")
    rows = record.get("rows")
    _check_rows(path, rows, years)

    files = record.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        _fail(path, "'files' must map a year or 'Y0-Y1' to an object of paths")

    def located(key, kind, default):
        relative = files.get(key, {}).get(kind, default)
        return _existing(path, _inside(folder, relative, path, f"[{key!r}][{kind!r}]"), kind)

    pairs = list(zip(years, years[1:]))
    regions = folder / "regions.geojson"
    return MonitorResults(
        folder=folder, record=record, years=years, rows=rows,
        composites={y: located(str(y), "composite", f"{y}/composite.tif") for y in years},
        maps={y: located(str(y), "map", f"{y}/map.tif") for y in years},
        alerts={(a, b): located(f"{a}-{b}", "alerts", f"alerts_{a}_{b}.geojson") for a, b in pairs},
        regions=regions if regions.is_file() else None)
