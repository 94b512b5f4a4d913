"""Label the sample where the imagery is: a page on 127.0.0.1 that shows chips of each point and saves every answer.

:class:`LabelSession` holds the sample points, the scenes and the answers, and
rewrites the labels file atomically after each answer; :func:`labelling_server`
checks the inputs, binds the HTTP server, locks the labels file (one session at
a time) and opens the session. The page never receives a point's map class
(blind interpretation).

The server follows Jupyter Server's model of a local page: a random token in
every address; the loopback interface only; a ``Host`` allowlist
(``127.0.0.1:PORT``, ``localhost:PORT``) against DNS rebinding; answers (the
only writes) need a same-origin ``Origin`` (or none) and the page's session
key in a header that a cross-site form cannot set; and the browser is opened
through a redirect file readable by the user only, never with the token on a
command line.
"""

import contextlib
import csv
import errno
import hmac
import html
import json
import os
import secrets
import shutil
import tempfile
import threading
import webbrowser
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np

from .._guards import check_output_not_input
from .._locks import exclusive_lock
from .._writes import atomic_path, check_file_target
from ..errors import InputError, OutputError, PointsError, SceneError, SessionLockedError
from .chips import CHIP_KINDS, ChipScene
from .labels import ANSWERS, LABEL_COLUMNS, UNSURE
from .points import read_points

__all__ = ["LabelSession", "SessionLockedError", "labels_lock", "labelling_server", "make_server",
           "default_labels_path"]

_POINT_COLUMNS = ("id", "lon", "lat", "map_class")
_SAME_DEGREES = 1e-7  # a labels file's lon / lat must equal the points' to this (about 1 cm)
_MAX_BODY = 1024
_LOCAL_HOSTS = ("127.0.0.1", "localhost")  # the names a Host header may give, with the server's port
_SESSION_HEADER = "X-Smallmines-Session"  # carries the page's session key on answers: no cross-site form can set it
_SESSION_MARK = b"@SESSION_KEY@"  # where label_page.html gets its session key
_REDIRECT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={url}">
<title>smallmines label</title>
</head>
<body>
<p>Opening the labelling page. If it does not open, <a href="{url}">follow this link</a>.</p>
</body>
</html>
"""
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".json": "application/json", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}


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


def _numbers(points, column, source):
    try:
        return np.asarray(points[column], dtype=float)
    except (TypeError, ValueError):
        raise PointsError(f"{source}: column {column!r} must hold numbers") from None


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

    Raises
    ------
    PointsError
        Points without the columns above, ids that repeat, map classes other
        than 0 / 1; a labels file whose rows are not the page's.
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
        self.lon, self.lat = _numbers(points, "lon", points_path), _numbers(points, "lat", points_path)
        self.xy = [[str(v) for v in points[c]] if c in points else [""] * len(self.ids) for c in ("x", "y")]
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


def _page(name):
    return resources.files(__package__).joinpath(name).read_bytes()


def _is_position(text):
    """Whether a part of an address is a position (ASCII digits only)."""
    return text.isascii() and text.isdigit()


class _Refused(Exception):
    """A request refused before it reaches the session: the HTTP status and the reason sent back."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def _unique_keys(pairs):
    """A JSON object from its pairs, refused if a key repeats (which of the values counts would be a guess)."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key repeats ({', '.join(sorted(k for k in set(keys) if keys.count(k) > 1))})")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _answer_body(raw):
    """``(index, key)`` from an answer's body, read strictly (OWASP's input validation: an allowlist of forms).

    The body must be a JSON object with the keys ``index`` and ``answer``,
    once each and nothing else; the index a JSON integer (not ``true``,
    ``2.9``, ``2.0``, ``1e400``, ``Infinity``, ``NaN`` or ``"2"``) and the
    answer a string (which one is the session's to check). Anything else is
    a :class:`_Refused` 400.
    """
    form = 'an answer is {"index": <position, a whole number>, "answer": "1" | "0" | "u"}'
    try:
        body = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # not JSON or not UTF-8, a repeated key, NaN, nested too deep
        raise _Refused(400, f"bad request: {form} ({error})") from None
    if not isinstance(body, dict) or set(body) != {"index", "answer"}:
        raise _Refused(400, f"bad request: {form}, not {json.dumps(body)[:200]}")
    index, key = body["index"], body["answer"]
    if type(index) is not int:  # a bool is an int to Python, and a float such as 2.9 or 1e400 (inf) is no position
        raise _Refused(400, f"bad request: {form}, not an index of {json.dumps(index)}")
    if type(key) is not str:
        raise _Refused(400, f"bad request: {form}, not an answer of {json.dumps(key)}")
    return index, key


class _Handler(BaseHTTPRequestHandler):
    """Serves the page, its data and chips under ``/<token>/``, to local host names only; answers need the page's
    session key. Anything else is refused."""

    session = token = session_key = None  # set on a subclass per server
    server_version = "smallmines-label"
    timeout = 60  # seconds a connection may stay silent (a body shorter than its Content-Length holds no thread)

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
        """The path after the token, as a list of parts; None when a redirect was sent.

        A Host other than ``127.0.0.1:PORT`` or ``localhost:PORT`` is refused
        first: a page of another site whose name was made to point at
        127.0.0.1 (DNS rebinding) sends its own name.
        """
        port = self.server.server_address[1]
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].lower() not in {f"{name}:{port}" for name in _LOCAL_HOSTS}:
            raise _Refused(403, f"forbidden: the page is served as 127.0.0.1:{port} or localhost:{port} only, "
                                f"not as host {' '.join(hosts)[:100]!r}")
        if not self.path.startswith("/"):  # an absolute address would name a host of its own
            raise _Refused(400, "bad request: ask for a path, not a whole address")
        parts = self.path.partition("?")[0].split("/")
        if len(parts) < 2 or not hmac.compare_digest(parts[1].encode(), self.token.encode()):
            raise _Refused(403, "forbidden: open the page with the address that 'smallmines label' printed "
                                "(it holds a token)")
        if len(parts) == 2:  # /<token> without the slash: relative addresses on the page need it
            self.send_response(301)
            self.send_header("Location", f"/{self.token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return parts[2:]

    def _serve(self, respond):
        try:
            parts = self._route()
            if parts is not None:
                respond(parts)
        except (BrokenPipeError, ConnectionResetError):  # the browser left (a new point, a closed tab): nobody to tell
            return
        except _Refused as error:
            self._text(error.status, str(error))
        except LookupError as error:
            self._text(404, f"not found: {error}")
        except ValueError as error:
            self._text(400, f"bad request: {error}")
        except Exception as error:  # a bug: one line for the browser, the session keeps running
            self._text(500, f"unexpected error ({type(error).__name__}: {error})")

    def do_GET(self):
        self._serve(self._get)

    def do_POST(self):
        self._serve(self._post)

    def _get(self, parts):
        session = self.session
        if parts in ([""], ["index.html"]):
            self._send(200, _page("label_page.html").replace(_SESSION_MARK, self.session_key.encode()), ".html")
        elif parts == ["label_page.js"]:
            self._send(200, _page("label_page.js"), ".js")
        elif parts == ["api", "state"]:
            self._send(200, json.dumps(session.state()).encode(), ".json")
        elif len(parts) == 3 and parts[:2] == ["api", "point"] and _is_position(parts[2]):
            self._send(200, json.dumps(session.point(int(parts[2]))).encode(), ".json")
        elif (len(parts) == 4 and parts[0] == "chip" and _is_position(parts[1]) and _is_position(parts[2])
              and parts[3].endswith(".png")):
            self._send(200, session.chip(int(parts[1]), int(parts[2]), parts[3][:-4]), ".png")
        else:
            raise LookupError("/".join(parts))

    def _check_write(self):
        """Refuse a write that does not come from the page: another site's ``Origin``, or no session key.

        A page of another site can send a form (``text/plain``) to this
        server, with the token if it learnt it, but not a custom header; and
        the browser names that site in ``Origin``.
        """
        origins = self.headers.get_all("Origin") or []
        if origins and (len(origins) != 1 or origins[0].lower() != f"http://{self.headers['Host'].lower()}"):
            raise _Refused(403, f"forbidden: answers come from the labelling page only, not from "
                                f"{' '.join(origins)[:100]!r}")
        key = self.headers.get(_SESSION_HEADER, "")
        if not hmac.compare_digest(key.encode("utf-8", "replace"), self.session_key.encode()):
            raise _Refused(403, f"forbidden: an answer needs the session key of the page (header {_SESSION_HEADER}); "
                                "reload the page from the address that 'smallmines label' printed")
        if self.headers.get_content_type() != "application/json":
            raise _Refused(415, "unsupported media type: an answer is sent as application/json")

    def _post(self, parts):
        if parts != ["api", "answer"]:
            raise LookupError("/".join(parts))
        self._check_write()
        length = self.headers.get("Content-Length", "")
        if not (_is_position(length) and 0 < int(length) <= _MAX_BODY):
            raise _Refused(400, f"bad request: an answer is a JSON object of at most {_MAX_BODY} bytes, "
                                "sent with its Content-Length")
        raw = self.rfile.read(int(length))
        if len(raw) < int(length):
            raise _Refused(400, "bad request: the body is shorter than its Content-Length")
        index, key = _answer_body(raw)
        self._send(200, json.dumps(self.session.answer(index, key)).encode(), ".json")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # closing the server waits for answers being written
    block_on_close = True
    _redirect_folder = None

    def open_browser(self):
        """Open the page in the user's browser through a redirect file, so that the token is on no command line.

        As Jupyter Server does: the browser is given the ``file://`` address
        of a small page that sends it on to :attr:`url`. Every user of the
        machine can read every command line (``/proc/PID/cmdline``); the file
        is the user's only (mode 600, in a temporary folder of mode 700), and
        it is removed when the server closes. The browser starts in a thread,
        so a browser command that waits does not hold up the server.

        Returns
        -------
        Path
            The redirect file.
        """
        self._redirect_folder = tempfile.mkdtemp(prefix="smallmines-label-")
        path = Path(self._redirect_folder) / "open.html"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write(_REDIRECT.format(url=html.escape(self.url)))
        threading.Thread(target=webbrowser.open, args=(path.as_uri(),), daemon=True).start()
        return path

    def server_close(self):
        super().server_close()
        if self._redirect_folder is not None:
            shutil.rmtree(self._redirect_folder, ignore_errors=True)


def make_server(session, port=None):
    """An HTTP server for ``session`` on 127.0.0.1 (``port``, or a free one); its ``url`` holds a random token.

    Its :meth:`open_browser` opens the page without putting the token on a
    command line. The page gets a second random key, its session key, which
    it sends with every answer.
    """
    token, session_key = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    handler = type("Handler", (_Handler,), {"session": session, "token": token, "session_key": session_key})
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
    """Check the inputs, bind the server, lock the labels file and open the session; yields the server (``.url``,
    ``.session``, ``.open_browser()``).

    Run it with ``server.serve_forever()``; the labels file is saved after
    every answer, so stopping it (or killing it) loses nothing. Every input is
    checked, and the port bound, before the lock is taken, so a refused run
    leaves no file behind. The lock is on the labels file's real path: a
    symbolic link to a labels file in use is refused, and a session given a
    link writes to its target.

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
    labels_path = default_labels_path(points_path) if labels_path is None else labels_path
    session = LabelSession(points_path, scene_paths, labels_path, interpreter, seed, load=False)
    server = make_server(session, port)
    try:
        with labels_lock(session.labels_path):
            session.load()
            yield server
    finally:
        server.server_close()
