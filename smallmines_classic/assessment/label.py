"""Label the sample where the imagery is: a page on 127.0.0.1 that shows chips of each point and saves every answer.

:class:`LabelSession` holds the sample points, the scenes and the answers, and
rewrites the labels file atomically after each answer; :func:`labelling_server`
locks the labels file (one session at a time), opens the session and binds the
HTTP server. The page never receives a point's map class (blind interpretation).
"""

import contextlib
import csv
import errno
import hmac
import json
import os
import secrets
import threading
import urllib.parse
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np

from .._guards import check_output_not_input
from .._locks import exclusive_lock
from .._writes import atomic_path
from ..errors import SessionLockedError
from .chips import CHIP_KINDS, ChipScene
from .labels import ANSWERS, LABEL_COLUMNS, UNSURE
from .points import read_points

__all__ = ["LabelSession", "SessionLockedError", "labels_lock", "labelling_server", "make_server",
           "default_labels_path"]

_POINT_COLUMNS = ("id", "lon", "lat", "map_class")
_SAME_DEGREES = 1e-7  # a labels file's lon / lat must equal the points' to this (about 1 cm)
_MAX_BODY = 1024
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".json": "application/json", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}


def default_labels_path(points_path):
    """``points.csv`` -> ``points_labels.csv`` beside it."""
    points_path = Path(points_path)
    return points_path.with_name(points_path.stem + "_labels.csv")


@contextlib.contextmanager
def labels_lock(path):
    """Hold an exclusive lock on the labels file ``path`` for the block (a lock file ``<path>.lock`` beside it).

    The lock file stays; the lock itself is the OS's, so it ends with the
    process, even after a ``kill -9``.

    Raises
    ------
    SessionLockedError
        Another process holds the lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    busy = SessionLockedError(f"another labelling session is using {path} (it holds {lock_path}); "
                              "close that one first, or give another --out")
    with exclusive_lock(lock_path, busy):
        yield


def _numbers(points, column, source):
    try:
        return np.asarray(points[column], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: column {column!r} must hold numbers") from None


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class LabelSession:
    """The sample points, the scenes they are shown on, and the answers given so far.

    Parameters
    ----------
    points_path : str or Path
        Points from ``smallmines sample`` (CSV, GeoPackage or GeoJSON) with
        ``id``, ``lon``, ``lat`` (WGS 84) and ``map_class`` (0 or 1); ``x``,
        ``y`` (map CRS) are carried over when present.
    scene_paths : sequence of str or Path
        Scenes to show each point on (any CRS).
    labels_path : str or Path
        The labels file (CSV, :data:`LABEL_COLUMNS`). If it exists it must hold
        this sample; its answers are kept (the session resumes). Otherwise it
        is written at once, every point unlabelled.
    interpreter : str
        Name written with each answer.
    seed : int
        Fixes the shuffled order in which points are shown.

    Raises
    ------
    ValueError
        Points without the columns above, ids that repeat, map classes other
        than 0 / 1, points outside every scene (their ids listed), a labels
        file of another sample, or a labels file that is an input.
    """

    def __init__(self, points_path, scene_paths, labels_path, interpreter, seed=0):
        self.labels_path = Path(labels_path)
        check_output_not_input(labels_path, points_path, *scene_paths)
        points = read_points(points_path)
        absent = [c for c in _POINT_COLUMNS if c not in points]
        if absent:
            raise ValueError(f"{points_path} has no column {', '.join(map(repr, absent))}: give the points written by "
                             "'smallmines sample' (id, map_class, lon, lat, ...)")
        self.ids = [str(v).strip() for v in points["id"]]
        if not self.ids:
            raise ValueError(f"{points_path} has no points")
        repeated = sorted(plot for plot, count in Counter(self.ids).items() if count > 1)
        if repeated:
            raise ValueError(f"{points_path}: point ids repeat ({', '.join(repeated[:10])}); "
                             "each point needs its own id")
        self.lon, self.lat = _numbers(points, "lon", points_path), _numbers(points, "lat", points_path)
        self.xy = [[str(v) for v in points[c]] if c in points else [""] * len(self.ids) for c in ("x", "y")]
        self.map_class = [str(v).strip() for v in points["map_class"]]
        other = [i for i, c in zip(self.ids, self.map_class) if c not in ("0", "1")]
        if other:
            raise ValueError(f"{points_path}: points {', '.join(other[:10])} have a map class other than 0 or 1; "
                             "the page answers mining / not mining, so it labels samples of a mining mask, "
                             "not of a change map")
        self.scenes = [ChipScene(path) for path in scene_paths]
        if not self.scenes:
            raise ValueError("give at least one scene to show the points on")
        self.pixels = [scene.locate(self.lon, self.lat) for scene in self.scenes]  # (rows, cols, inside) per scene
        outside = ~np.any([inside for _, _, inside in self.pixels], axis=0)
        if outside.any():
            ids = [self.ids[i] for i in np.flatnonzero(outside)]
            raise ValueError(f"{len(ids)} point(s) of {points_path} lie outside every scene (ids {', '.join(ids[:20])}"
                             f"{', ...' if len(ids) > 20 else ''}); give scenes that cover the sample")
        self.n = len(self.ids)
        self.order = np.random.default_rng(seed).permutation(self.n)
        self.interpreter = interpreter
        self.answers = {}  # row of the points file -> (reference, confidence, interpreter, time)
        self._write_lock = threading.Lock()
        if self.labels_path.exists():
            self._resume()
        else:
            self._write()

    @property
    def labelled(self):
        return len(self.answers)

    @property
    def unsure(self):
        return sum(answer[1] == UNSURE for answer in self.answers.values())

    def _resume(self):
        """Take the answers of an existing labels file, after checking that it holds this sample."""
        source = self.labels_path
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or ())]
            if absent:
                raise ValueError(f"{source} is not a labels file (no column {', '.join(absent)}); give another --out")
            rows = list(reader)
        short = [line for line, row in enumerate(rows, start=2) if None in row or None in row.values()]
        if short:
            raise ValueError(f"{source}, line {short[0]}: not {len(reader.fieldnames)} fields; is it a labels file "
                             "that was edited by hand? give another --out")
        row_of = {plot: i for i, plot in enumerate(self.ids)}
        found = [row_of.get(row["plot_id"].strip()) for row in rows]
        if sorted(f for f in found if f is not None) != list(range(self.n)) or len(rows) != self.n:
            raise ValueError(f"{source} holds other points than this sample ({len(rows)} rows, plot ids "
                             "not those of the points file); give another --out")
        for line, (i, row) in enumerate(zip(found, rows), start=2):
            try:
                same = max(abs(float(row["lon"]) - self.lon[i]), abs(float(row["lat"]) - self.lat[i])) < _SAME_DEGREES
            except ValueError:
                same = False
            if not same:
                raise ValueError(f"{source}, line {line}: plot {row['plot_id']} is not where the points file puts it; "
                                 "is it the labels file of another sample? give another --out")
            answer = (row["reference"].strip(), row["confidence"].strip())
            if answer in ANSWERS.values():
                self.answers[i] = (*answer, row["interpreter"], row["time"])
            elif answer != ("", ""):
                raise ValueError(f"{source}, line {line}: reference {answer[0]!r} with confidence {answer[1]!r} is "
                                 "not an answer of the page (1 / 0 sure, or empty unsure)")

    def _write(self):
        """Rewrite the labels file: every point in the points file's order, a temporary file renamed when complete."""
        with atomic_path(self.labels_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(LABEL_COLUMNS)
            for i, plot in enumerate(self.ids):
                reference, confidence, interpreter, time = self.answers.get(i, ("", "", "", ""))
                writer.writerow([plot, 1, repr(float(self.lon[i])), repr(float(self.lat[i])), self.xy[0][i],
                                 self.xy[1][i], reference, confidence, interpreter, time, self.map_class[i]])
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not land before the data

    def _row(self, index):
        """The points-file row shown at position ``index`` of the shuffled order; LookupError if there is none."""
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
        if key not in ANSWERS:
            raise ValueError(f"answer {key!r} is none of {list(ANSWERS)}")
        with self._write_lock:
            self.answers[i] = (*ANSWERS[key], self.interpreter, _now())
            self._write()
            return {"labelled": self.labelled, "unsure": self.unsure, "n": self.n,
                    "next": self._next_unlabelled(index)}


def _page(name):
    return resources.files(__package__).joinpath(name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    """Serves the page, its data and chips under ``/<token>/``; anything else is refused (403)."""

    session = token = None  # set on a subclass per server
    server_version = "smallmines-label"

    def log_message(self, format, *args):  # the terminal is for the command's own lines
        pass

    def _send(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPES[kind])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status, message):
        self._send(status, (message + "\n").encode(), ".txt")

    def _route(self):
        """The path after the token, as a list of parts; None (and a 403 sent) without the right token."""
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        if len(parts) < 2 or not hmac.compare_digest(parts[1].encode(), self.token.encode()):
            self._text(403, "forbidden: open the page with the address that 'smallmines label' printed "
                            "(it holds a token)")
            return None
        if len(parts) == 2:  # /<token> without the slash: relative addresses on the page need it
            self.send_response(301)
            self.send_header("Location", f"/{self.token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return parts[2:]

    def _serve(self, respond):
        try:
            respond()
        except (BrokenPipeError, ConnectionResetError):  # the browser left (a new point, a closed tab): nobody to tell
            return
        except LookupError as error:
            self._text(404, f"not found: {error}")
        except ValueError as error:
            self._text(400, f"bad request: {error}")
        except Exception as error:  # a bug: one line for the browser, the session keeps running
            self._text(500, f"unexpected error ({type(error).__name__}: {error})")

    def do_GET(self):
        parts = self._route()
        if parts is not None:
            self._serve(lambda: self._get(parts))

    def do_POST(self):
        parts = self._route()
        if parts is not None:
            self._serve(lambda: self._post(parts))

    def _get(self, parts):
        session = self.session
        if parts in ([""], ["index.html"]):
            self._send(200, _page("label_page.html"), ".html")
        elif parts == ["label_page.js"]:
            self._send(200, _page("label_page.js"), ".js")
        elif parts == ["api", "state"]:
            self._send(200, json.dumps(session.state()).encode(), ".json")
        elif len(parts) == 3 and parts[:2] == ["api", "point"] and parts[2].isdigit():
            self._send(200, json.dumps(session.point(int(parts[2]))).encode(), ".json")
        elif (len(parts) == 4 and parts[0] == "chip" and parts[1].isdigit() and parts[2].isdigit()
              and parts[3].endswith(".png")):
            self._send(200, session.chip(int(parts[1]), int(parts[2]), parts[3][:-4]), ".png")
        else:
            raise LookupError("/".join(parts))

    def _post(self, parts):
        if parts != ["api", "answer"]:
            raise LookupError("/".join(parts))
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            raise ValueError(f"an answer is a JSON object of at most {_MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
            index, key = int(body["index"]), str(body["answer"])
        except (ValueError, TypeError, KeyError):
            raise ValueError('an answer is {"index": <position>, "answer": "1" | "0" | "u"}') from None
        self._send(200, json.dumps(self.session.answer(index, key)).encode(), ".json")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # closing the server waits for answers being written
    block_on_close = True


def make_server(session, port=None):
    """An HTTP server for ``session`` on 127.0.0.1 (``port``, or a free one); its ``url`` holds a random token."""
    token = secrets.token_urlsafe(18)
    handler = type("Handler", (_Handler,), {"session": session, "token": token})
    try:
        server = _Server(("127.0.0.1", port or 0), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"port {port} on 127.0.0.1 is in use: choose another --port, "
                                            "or leave --port out for a free one") from None
        raise
    server.session = session
    server.url = f"http://127.0.0.1:{server.server_address[1]}/{token}/"
    return server


@contextlib.contextmanager
def labelling_server(points_path, scene_paths, labels_path=None, *, interpreter, seed=0, port=None):
    """Lock the labels file, open the session and bind the server; yields the server (``.url``, ``.session``).

    Run it with ``server.serve_forever()``; the labels file is saved after
    every answer, so stopping it (or killing it) loses nothing.

    Parameters
    ----------
    points_path, scene_paths, interpreter, seed
        As for :class:`LabelSession`.
    labels_path : str or Path or None
        Default: ``<points stem>_labels.csv`` beside the points.
    port : int or None
        Default: a free port.

    Raises
    ------
    SessionLockedError
        Another session holds the labels file.
    OSError
        ``port`` is in use.
    """
    labels_path = default_labels_path(points_path) if labels_path is None else Path(labels_path)
    with labels_lock(labels_path):
        server = make_server(LabelSession(points_path, scene_paths, labels_path, interpreter, seed), port)
        try:
            yield server
        finally:
            server.server_close()
