"""A labelling session: the sample points, the scenes, and the answers in the labels file.

:class:`LabelSession` holds them and rewrites the labels file atomically after
each answer; :func:`labels_lock` keeps a second session off the same file (by
its real path). The page and its server are in :mod:`.label`.
"""

import contextlib
import csv
import os
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._cells import csv_writer
from .._guards import check_output_not_input
from .._locks import exclusive_lock
from .._writes import atomic_path, check_file_target
from ..errors import InputError, OutputError, PointsError, SceneError, SessionLockedError
from .chips import CHIP_KINDS, ChipScene
from .labels import ANSWERS, LABEL_COLUMNS, UNSURE
from .points import read_points

__all__ = ["LabelSession", "default_labels_path", "labels_lock"]

_POINT_COLUMNS = ("id", "lon", "lat", "map_class")
_SAME_DEGREES = 1e-7  # a labels file's lon / lat must equal the points' to this (about 1 cm)
_DEGREE_LIMITS = {"lon": 180, "lat": 90}


def default_labels_path(points_path):
    """``points.csv`` -> ``points_labels.csv`` beside it."""
    points_path = Path(points_path)
    return points_path.with_name(points_path.stem + "_labels.csv")


@contextlib.contextmanager
def labels_lock(path):
    """Hold an exclusive lock on the labels file ``path`` for the block (a lock file ``<real path>.lock`` beside it).

    The lock is taken on the file's real path (symbolic links resolved), so a
    link to a labels file in use is refused like the file itself. The lock
    file stays; the lock itself is the OS's, so it ends with the process, even
    after a ``kill -9``.

    Raises
    ------
    SessionLockedError
        Another process holds the lock.
    """
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    lock_path = real.with_name(real.name + ".lock")
    busy = SessionLockedError(f"another labelling session is using {real} (it holds {lock_path}); "
                              "close that one first, or give another --out")
    with exclusive_lock(lock_path, busy):
        yield


def _degrees(points, column, source):
    """Column ``lon`` or ``lat`` as floats, refusing (with the first bad row) a value off the globe or not a number."""
    try:
        values = np.asarray(points[column], dtype=float)
    except (TypeError, ValueError):
        raise PointsError(f"{source}: column {column!r} must hold numbers") from None
    limit = _DEGREE_LIMITS[column]
    bad = np.flatnonzero(~(np.abs(values) <= limit))  # NaN is bad too
    if bad.size:
        raise PointsError(f"{source}, row {bad[0] + 1}: {column} {points[column][bad[0]]} is not a WGS 84 {column} "
                          f"(-{limit} to {limit} degrees){f'; {bad.size - 1} more row(s) too' if bad.size > 1 else ''}"
                          "; are lon and lat swapped, or given in the map's CRS?")
    return values


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class LabelSession:
    """The sample points, the scenes they are shown on, and the answers given so far.

    Parameters
    ----------
    points_path : str or Path
        Points from ``smallmines sample`` (CSV, GeoPackage or GeoJSON) with
        ``id``, ``lon``, ``lat`` (WGS 84) and ``map_class`` (0 or 1); ``x``,
        ``y`` (map CRS) are copied into the labels file when present, never
        used: ``lon``, ``lat`` place each point (see :attr:`xy_copied`).
    scene_paths : sequence of str or Path
        Scenes to show each point on (any CRS).
    labels_path : str or Path
        The labels file (CSV, :data:`LABEL_COLUMNS`). A symbolic link is
        followed: the session reads and writes its target (``labels_path``
        becomes the real path), and the link stays. If the file exists it must
        hold this sample; its answers are kept (the session resumes).
        Otherwise it is written by :meth:`load`, every point unlabelled.
    interpreter : str
        Name written with each answer.
    seed : int
        Fixes the shuffled order in which points are shown.
    load : bool
        Call :meth:`load` at once (default). With False, every input is
        checked but nothing is written, so that a caller can lock the labels
        file first (as :func:`labelling_server` does).

    Attributes
    ----------
    xy_copied : bool
        The points have ``x`` or ``y``: copied, not checked nor used.

    Raises
    ------
    PointsError
        Points without the columns above, ids that repeat, map classes other
        than 0 / 1, a ``lon`` or ``lat`` that is not a number of degrees on
        the globe (naming the row); a labels file whose rows are not the page's.
    SceneError
        Points outside every scene (their ids listed).
    OutputError
        A labels file of another sample, or one that is an input, a folder or
        a device.
    InputError
        No scene.
    """

    def __init__(self, points_path, scene_paths, labels_path, interpreter, seed=0, load=True):
        self.labels_path = Path(os.path.realpath(labels_path))
        check_output_not_input(self.labels_path, points_path, *scene_paths)  # refused before any work, as are
        try:  # a folder and a device
            check_file_target(self.labels_path)
        except IsADirectoryError as error:
            raise OutputError(str(error)) from None
        points = read_points(points_path)
        absent = [c for c in _POINT_COLUMNS if c not in points]
        if absent:
            raise PointsError(f"{points_path} has no column {', '.join(map(repr, absent))}: give the points written by "
                              "'smallmines sample' (id, map_class, lon, lat, ...)")
        self.ids = [str(v).strip() for v in points["id"]]
        if not self.ids:
            raise PointsError(f"{points_path} has no points")
        repeated = sorted(plot for plot, count in Counter(self.ids).items() if count > 1)
        if repeated:
            raise PointsError(f"{points_path}: point ids repeat ({', '.join(repeated[:10])}); "
                              "each point needs its own id")
        self.lon, self.lat = _degrees(points, "lon", points_path), _degrees(points, "lat", points_path)
        self.xy = [[str(v) for v in points[c]] if c in points else [""] * len(self.ids) for c in ("x", "y")]
        self.xy_copied = "x" in points or "y" in points
        self.map_class = [str(v).strip() for v in points["map_class"]]
        other = [i for i, c in zip(self.ids, self.map_class) if c not in ("0", "1")]
        if other:
            raise PointsError(f"{points_path}: points {', '.join(other[:10])} have a map class other than 0 or 1; "
                              "the page answers mining / not mining, so it labels samples of a mining mask, "
                              "not of a change map")
        self.scenes = [ChipScene(path) for path in scene_paths]
        if not self.scenes:
            raise InputError("give at least one scene to show the points on")
        self.pixels = [scene.locate(self.lon, self.lat) for scene in self.scenes]  # (rows, cols, inside) per scene
        outside = ~np.any([inside for _, _, inside in self.pixels], axis=0)
        if outside.any():
            ids = [self.ids[i] for i in np.flatnonzero(outside)]
            raise SceneError(f"{len(ids)} point(s) of {points_path} lie outside every scene (ids {', '.join(ids[:20])}"
                             f"{', ...' if len(ids) > 20 else ''}); give scenes that cover the sample")
        self.n = len(self.ids)
        self.order = np.random.default_rng(seed).permutation(self.n)
        self.interpreter = interpreter
        self.answers = {}  # row of the points file -> (reference, confidence, interpreter, time)
        self._write_lock = threading.Lock()
        if load:
            self.load()
        elif self.labels_path.exists():
            self._read_answers()  # refuses the labels file of another sample now, before the caller locks it

    def load(self):
        """Take the answers of the labels file (the session resumes), or write it, every point unlabelled.

        Raises
        ------
        PointsError, OutputError
            As for the class: the labels file is checked again, in case it
            changed since the session was made.
        """
        with self._write_lock:
            if self.labels_path.exists():
                self.answers = self._read_answers()
            else:
                self.answers = {}
                self._write()

    @property
    def labelled(self):
        return len(self.answers)

    @property
    def unsure(self):
        return sum(answer[1] == UNSURE for answer in self.answers.values())

    def _read_answers(self):
        """The answers of the existing labels file by row of the points file, after checking that it holds this
        sample."""
        source = self.labels_path
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or ())]
            if absent:
                raise OutputError(f"{source} is not a labels file (no column {', '.join(absent)}); give another --out")
            rows = list(reader)
        short = [line for line, row in enumerate(rows, start=2) if None in row or None in row.values()]
        if short:
            raise PointsError(f"{source}, line {short[0]}: not {len(reader.fieldnames)} fields; is it a labels file "
                              "that was edited by hand? give another --out")
        row_of = {plot: i for i, plot in enumerate(self.ids)}
        found = [row_of.get(row["plot_id"].strip()) for row in rows]
        if sorted(f for f in found if f is not None) != list(range(self.n)) or len(rows) != self.n:
            raise OutputError(f"{source} holds other points than this sample ({len(rows)} rows, plot ids "
                              "not those of the points file); give another --out")
        answers = {}
        for line, (i, row) in enumerate(zip(found, rows), start=2):
            try:
                same = max(abs(float(row["lon"]) - self.lon[i]), abs(float(row["lat"]) - self.lat[i])) < _SAME_DEGREES
            except ValueError:
                same = False
            if not same:
                raise OutputError(f"{source}, line {line}: plot {row['plot_id']} is not where the points file puts "
                                  "it; is it the labels file of another sample? give another --out")
            answer = (row["reference"].strip(), row["confidence"].strip())
            if answer in ANSWERS.values():
                answers[i] = (*answer, row["interpreter"], row["time"])
            elif answer != ("", ""):
                raise PointsError(f"{source}, line {line}: reference {answer[0]!r} with confidence {answer[1]!r} is "
                                  "not an answer of the page (1 / 0 sure, or empty unsure)")
        return answers

    def _write(self):
        """Rewrite the labels file: every point in the points file's order, a temporary file renamed when complete."""
        with atomic_path(self.labels_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv_writer(handle)
            writer.writerow(LABEL_COLUMNS)
            for i, plot in enumerate(self.ids):
                reference, confidence, interpreter, time = self.answers.get(i, ("", "", "", ""))
                writer.writerow([plot, 1, repr(float(self.lon[i])), repr(float(self.lat[i])), self.xy[0][i],
                                 self.xy[1][i], reference, confidence, interpreter, time, self.map_class[i]])
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not land before the data

    def _row(self, index):
        """The points-file row shown at position ``index`` of the shuffled order; LookupError if there is none."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InputError(f"a position is a whole number, got {index!r}")
        if not 0 <= index < self.n:
            raise LookupError(f"no point {index}: positions are 0..{self.n - 1}")
        return int(self.order[index])

    def _next_unlabelled(self, after):
        for step in range(1, self.n + 1):
            index = (after + step) % self.n
            if int(self.order[index]) not in self.answers:
                return index
        return None

    def state(self):
        """What the page shows around the points: progress, scenes, chip kinds, where to start."""
        start = self._next_unlabelled(self.n - 1)
        return {"n": self.n, "labelled": self.labelled, "unsure": self.unsure, "interpreter": self.interpreter,
                "labels_file": self.labels_path.name, "scenes": [scene.label for scene in self.scenes],
                "kinds": {kind: title for kind, (title, _) in CHIP_KINDS.items()}, "start": start or 0,
                "done": start is None}

    def point(self, index):
        """The point at position ``index`` of the shuffled order, for the page: never its map class."""
        i = self._row(index)
        answer = self.answers.get(i)
        return {"index": index, "plot_id": self.ids[i], "lon": float(self.lon[i]), "lat": float(self.lat[i]),
                "answer": None if answer is None else {"reference": answer[0], "confidence": answer[1]},
                "scenes": [{"label": scene.label, "outside": not bool(inside[i]), "bands": list(scene.band_names),
                            "chips": [{"kind": kind, "title": title, "missing": scene.missing[kind]}
                                      for kind, (title, _) in CHIP_KINDS.items()]}
                           for scene, (_, _, inside) in zip(self.scenes, self.pixels)]}

    def chip(self, index, scene, kind):
        """PNG bytes of one chip of the point at position ``index``; LookupError for a chip that cannot be drawn."""
        i = self._row(index)
        if not 0 <= scene < len(self.scenes) or kind not in CHIP_KINDS:
            raise LookupError(f"no chip {kind!r} of scene {scene}")
        rows, cols, inside = self.pixels[scene]
        if not inside[i] or self.scenes[scene].missing[kind]:
            raise LookupError(f"scene {self.scenes[scene].label} has no {kind!r} chip of point {self.ids[i]}")
        return self.scenes[scene].png(int(rows[i]), int(cols[i]), kind, float(self.lat[i]))

    def answer(self, index, key):
        """Record the answer ``key`` (``"1"``, ``"0"`` or ``"u"``) for position ``index`` and save the labels file."""
        i = self._row(index)
        if not isinstance(key, str) or key not in ANSWERS:
            raise InputError(f"answer {key!r} is none of {list(ANSWERS)}")
        with self._write_lock:
            self.answers[i] = (*ANSWERS[key], self.interpreter, _now())
            self._write()
            return {"labelled": self.labelled, "unsure": self.unsure, "n": self.n,
                    "next": self._next_unlabelled(index)}
