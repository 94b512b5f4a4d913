"""Label the sample where the imagery is: a page on 127.0.0.1 that shows chips of each point and saves every answer.

:class:`~.session.LabelSession` (in :mod:`.session`) holds the sample points, the scenes and the answers, and
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from ..errors import SessionLockedError
from .session import LabelSession, default_labels_path, labels_lock

__all__ = ["SessionLockedError", "labelling_server", "make_server"]

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
