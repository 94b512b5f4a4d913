"""`smallmines label`: the labelling page in a real browser, its server, chips, the labels file, and `assess` on it."""

import csv
import http.client
import http.server
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
import rasterio.warp
from PIL import Image
from rasterio.windows import Window

from smallmines_classic import MAP_NODATA, NonResponseWarning, assess_map, estimate_area, mosaic_tiles
from smallmines_classic.assessment import (
    LABEL_COLUMNS,
    ChipScene,
    LabelSession,
    SessionLockedError,
    labelling_server,
    labels_lock,
    read_points,
    stretch,
    write_points,
)
from smallmines_classic.assessment.chips import CHIP_HALF, NODATA_RGB
from smallmines_classic.cli import main

N_POINTS = 20
SEED = 4


@pytest.fixture(scope="module")
def site(twin_root, tmp_path_factory):
    """A map (the twin's 2022 mask), 20 sample points of it, and three scenes: the 2022 mosaic, 2016 in Web Mercator
    (another CRS) and a true-colour-only scene that covers the left half (missing bands, some points outside)."""
    folder = tmp_path_factory.mktemp("site")
    scene_2022 = mosaic_tiles(twin_root, 2022, folder / "scene_2022.vrt")
    with rasterio.open(mosaic_tiles(twin_root, 2022, folder / "mask.vrt", kind="MASK")) as src:
        profile, mask = src.profile, src.read(1)
    profile.update(driver="GTiff", nodata=MAP_NODATA)
    with rasterio.open(folder / "map.tif", "w", **profile) as dst:
        dst.write(mask, 1)
    with rasterio.open(mosaic_tiles(twin_root, 2016, folder / "scene_2016.vrt")) as src:
        transform, width, height = rasterio.warp.calculate_default_transform(src.crs, "EPSG:3857", src.width,
                                                                            src.height, *src.bounds)
        profile = dict(driver="GTiff", count=src.count, dtype="float32", crs="EPSG:3857", transform=transform,
                       width=width, height=height, nodata=np.nan)
        with rasterio.open(folder / "scene_2016_3857.tif", "w", **profile) as dst:
            for band in range(1, src.count + 1):
                rasterio.warp.reproject(rasterio.band(src, band), rasterio.band(dst, band),
                                        resampling=rasterio.warp.Resampling.nearest)
            dst.descriptions = src.descriptions
            dst.update_tags(year="2016")
    with rasterio.open(scene_2022) as src:
        window = Window(0, 0, src.width // 2, src.height)
        profile = dict(driver="GTiff", count=3, dtype="float32", crs=src.crs, transform=src.window_transform(window),
                       width=window.width, height=window.height)
        with rasterio.open(folder / "rgb_west.tif", "w", **profile) as dst:
            dst.write(src.read([3, 2, 1], window=window))
            dst.descriptions = ("B04", "B03", "B02")
    assert main(["-q", "sample", str(folder / "map.tif"), "--n", str(N_POINTS), "--min-per-class", "8",
                 "--out", str(folder / "points.csv"), "--seed", "2"]) == 0
    return {"folder": folder, "map": folder / "map.tif", "points": folder / "points.csv",
            "scenes": [scene_2022, folder / "scene_2016_3857.tif", folder / "rgb_west.tif"]}


def _points(site):
    with open(site["points"], newline="") as handle:
        return list(csv.DictReader(handle))


def _read_labels(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return tuple(reader.fieldnames), list(reader)


def _planned_answers(points):
    """The interpreter's answers by plot id: the map class mostly, one error each way, three unsure."""
    ones = [p["id"] for p in points if p["map_class"] == "1"]
    zeros = [p["id"] for p in points if p["map_class"] == "0"]
    answers = {p["id"]: p["map_class"] for p in points}
    answers[ones[0]], answers[zeros[0]] = "0", "1"
    for plot in (ones[1], zeros[1], zeros[2]):
        answers[plot] = "u"
    return answers


def _start_server(site, out, *extra, browser=None):
    """`smallmines label` in a subprocess (with ``browser`` as its BROWSER, else --no-browser); returns it and the
    address it printed."""
    scenes = [arg for path in site["scenes"] for arg in ("--scene", str(path))]
    env = dict(os.environ, BROWSER=str(browser)) if browser else None
    proc = subprocess.Popen([sys.executable, "-m", "smallmines_classic.cli", "label", str(site["points"]), *scenes,
                             "--out", str(out), "--seed", str(SEED), "--interpreter", "tester",
                             *([] if browser else ["--no-browser"]), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("open "):
            return proc, line.split()[1], lines
    raise AssertionError(f"the server did not start: {''.join(lines)} {proc.stderr.read()}")


def _wait_for_chips(page, seconds=30):
    """Until every chip on the page has loaded (polled: the page's policy forbids the evaluated predicates of
    Playwright's wait_for_function)."""
    end = time.monotonic() + seconds
    script = ("() => document.images.length > 0 && "
              "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    while not page.evaluate(script):
        assert time.monotonic() < end, "the chips did not load"
        time.sleep(0.1)


def _watch_labels(path, stop, problems, reads):
    """Read the labels file again and again while the browser writes it: it must always be whole."""
    while not stop.is_set():
        try:
            header, rows = _read_labels(path)
        except FileNotFoundError:
            continue
        reads.append(1)
        if header != LABEL_COLUMNS or len(rows) != N_POINTS or any(None in row or None in row.values() for row in rows):
            problems.append((header, len(rows)))
        time.sleep(0.005)  # leave the CPUs to the browser and the server


def test_label_in_a_real_browser_kill_resume_and_assess(site, tmp_path, headless_chromium):

    labels = tmp_path / "labels.csv"
    points = _points(site)
    answers = _planned_answers(points)
    session = LabelSession(site["points"], site["scenes"], tmp_path / "order.csv", "x", SEED)
    order = [points[i]["id"] for i in session.order]
    stop, problems, reads = threading.Event(), [], []
    watcher = threading.Thread(target=_watch_labels, args=(labels, stop, problems, reads), daemon=True)
    watcher.start()
    started = datetime.now(timezone.utc).replace(microsecond=0)
    seen, bodies, notes = [], [], []

    def label(page, done):
        plot = page.evaluate("document.body.dataset.plotId")
        seen.append(plot)
        notes.append(page.locator("#chips").inner_text())
        page.keyboard.press(answers[plot])
        unsure = sum(answers[p] == "u" for p in seen)
        progress = f"{done} / {N_POINTS} labelled" + (f" ({unsure} unsure)" if unsure else "")
        expect(page.locator("#progress")).to_have_text(progress)
        if done < N_POINTS:  # the next point is on the page
            expect(page.locator("body")).not_to_have_attribute("data-plot-id", plot)

    with headless_chromium() as browser:
        from playwright.sync_api import expect
        page = browser.new_page()
        page.on("response", lambda r: bodies.append(r.text()) if "/api/" in r.url and r.ok else None)
        proc, url, _ = _start_server(site, labels)
        try:
            page.goto(url)
            expect(page.locator("#progress")).to_have_text(f"0 / {N_POINTS} labelled")
            _wait_for_chips(page)
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            chips = page.locator("img.chip")
            assert 5 <= chips.count() <= 7  # 2 full scenes x 3 kinds, and the true colour of the west scene if inside
            for i in range(chips.count()):
                picture = np.asarray(Image.open(io.BytesIO(chips.nth(i).screenshot())).convert("RGB"), float)
                assert picture.shape[0] >= 200 and picture.shape[1] >= 200
                assert picture.std() > 10, f"chip {i} is blank"
            assert page.locator("th.scene").all_inner_texts() == ["scene_2022", "2016", "rgb_west"]
            for done in range(1, 9):
                label(page, done)
            # Back to the last answered point: its answer is shown; then forward again.
            page.keyboard.press("ArrowLeft")
            expect(page.locator("#plot-id")).to_have_text(seen[-1])
            shown = {"1": "mining", "0": "not mining", "u": "unsure"}[answers[seen[-1]]]
            expect(page.locator("#answer")).to_have_text(shown)
            page.keyboard.press("ArrowRight")
            expect(page.locator("#plot-id")).not_to_have_text(seen[-1])
        finally:
            proc.kill()  # SIGKILL: no clean-up runs
            proc.wait()
        header, rows = _read_labels(labels)
        assert sum(bool(row["confidence"]) for row in rows) == 8
        page.keyboard.press("1")  # the server is gone: the page says so, and nothing is recorded
        expect(page.locator("#message")).to_contain_text("does not answer")

        proc, url, lines = _start_server(site, labels)
        try:
            assert "(8 labelled already)" in lines[0]
            page.goto(url)
            expect(page.locator("#progress")).to_contain_text(f"8 / {N_POINTS} labelled")
            for done in range(9, N_POINTS + 1):
                label(page, done)
            expect(page.locator("#message")).to_contain_text(f"All {N_POINTS} points are labelled")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        browser.close()
    stop.set()
    watcher.join()

    assert proc.returncode == 143 and "interrupted by SIGTERM" in err
    assert f"{N_POINTS} / {N_POINTS} labelled (3 unsure)" in out
    assert not problems and len(reads) > 20  # never a partial labels file
    assert seen == order  # the seed's shuffled order, continued after the restart
    assert seen != [p["id"] for p in points]
    # The west scene: where a point is inside it, its missing bands are named beside the chip it can show.
    assert any("the scene has no B12, B8A (it has B04, B03, B02)" in text for text in notes)
    assert any("the point is outside this scene" in text for text in notes)
    assert not [b for b in bodies if "map_class" in b or "class" in json.loads(b)]  # blind: the page never gets it
    header, rows = _read_labels(labels)
    assert header == LABEL_COLUMNS
    assert [row["plot_id"] for row in rows] == [p["id"] for p in points]  # the points file's order, not the labelling's
    for row, point in zip(rows, points):
        answer = answers[point["id"]]
        assert (row["reference"], row["confidence"]) == (("", "unsure") if answer == "u" else (answer, "sure"))
        assert row["map_class"] == point["map_class"] and row["sample_id"] == "1" and row["interpreter"] == "tester"
        assert float(row["lon"]) == float(point["lon"]) and float(row["x"]) == float(point["x"])
        assert started <= datetime.strptime(row["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert not [p.name for p in labels.parent.iterdir() if ".part" in p.name]  # the killed writer's leftovers swept

    done = subprocess.run([sys.executable, "-m", "smallmines_classic.cli", "-q", "assess", str(site["map"]),
                           str(labels), "--json", str(tmp_path / "report.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    unsure = sorted(p for p, a in answers.items() if a == "u")
    assert "3 of 20 point(s) were not interpreted (unsure) and are left out of the estimate" in done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["unsure"]["count"] == 3 and sorted(report["unsure"]["ids"]) == unsure
    counts = np.zeros((2, 2), int)
    for point in points:
        if answers[point["id"]] != "u":
            counts[int(point["map_class"]), int(answers[point["id"]])] += 1
    assert report["counts"] == counts.tolist()
    expected = estimate_area(counts, np.array(report["mapped_pixels"]) * 100.0)
    np.testing.assert_allclose(report["area_ha"], expected.area / 1e4)


# -- the server, without a browser ---------------------------------------------------------------------------------


def _get(url, data=None, key=None):
    """GET ``url``, or POST ``data`` as the page does (JSON, with the session key ``key``): (status, body)."""
    headers = {"Content-Type": "application/json"} if data else {}
    if key:
        headers["X-Smallmines-Session"] = key
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served(site, tmp_path):
    """A labelling server running in a thread of this process."""
    labels = tmp_path / "labels.csv"
    with labelling_server(site["points"], site["scenes"], labels, interpreter="me", seed=SEED) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server
        server.shutdown()


def test_every_request_without_the_token_is_refused(served):
    root = served.url.rsplit("/", 2)[0]
    token = served.url.rstrip("/").rsplit("/", 1)[1]
    assert served.server_address[0] == "127.0.0.1"
    assert served.url.startswith("http://127.0.0.1:") and len(token) >= 24
    for path in ("/", "/api/state", f"/{token[:-1]}/api/state", f"/x{token}/", "/api/point/0", "/chip/0/0/true.png"):
        status, body = _get(root + path)
        assert status == 403 and b"address that 'smallmines label' printed" in body, path
    assert _get(root + "/api/answer", b'{"index": 0, "answer": "1"}')[0] == 403
    assert served.session.labelled == 0
    status, body = _get(served.url)
    assert status == 200 and b"label_page.js" in body
    assert _get(served.url + "label_page.js")[0] == 200
    assert _get(served.url.rstrip("/"))[0] == 200  # redirected to the address with the slash
    state = json.loads(_get(served.url + "api/state")[1])
    assert state["n"] == N_POINTS and state["labelled"] == 0 and state["scenes"] == ["scene_2022", "2016", "rgb_west"]


def _session_key(url):
    """The session key the page gets in its HTML, read as label_page.js reads it."""
    status, page = _get(url)
    assert status == 200
    return re.search(rb'<meta name="smallmines-session" content="([A-Za-z0-9_-]{24,})">', page)[1].decode()


def test_answers_are_saved_at_once_and_bad_requests_get_a_reason(served, site):
    key = _session_key(served.url)
    status, body = _get(served.url + "api/answer", b'{"index": 3, "answer": "u"}', key)
    assert status == 200 and json.loads(body) == {"labelled": 1, "unsure": 1, "n": N_POINTS, "next": 4}
    _, rows = _read_labels(served.session.labels_path)
    plot = served.session.ids[served.session.order[3]]
    assert [(r["reference"], r["confidence"]) for r in rows if r["plot_id"] == plot] == [("", "unsure")]
    refusal = b"bad request: answer '7' is none of ['1', '0', 'u']\n"
    assert _get(served.url + "api/answer", b'{"index": 3, "answer": "7"}', key) == (400, refusal)
    assert _get(served.url + "api/answer", b"not json", key)[0] == 400
    assert _get(served.url + "api/point/20")[0] == 404
    assert _get(served.url + "chip/0/9/true.png")[0] == 404
    assert _get(served.url + "chip/0/0/ndvi.png")[0] == 404
    assert _get(served.url + "nothing")[0] == 404
    status, png = _get(served.url + "chip/0/0/swir.png")
    assert status == 200 and Image.open(io.BytesIO(png)).size == ((2 * CHIP_HALF + 1) * 4,) * 2
    point = json.loads(_get(served.url + "api/point/0")[1])
    assert set(point) == {"index", "plot_id", "lon", "lat", "answer", "scenes"}  # never the map class


def _raw(server, method, path, body=None, headers=None):
    """One request as written here, headers included (Host too, when given): (status, body)."""
    connection = http.client.HTTPConnection(*server.server_address, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _untouched(path):
    """What shows that a file was not rewritten: its bytes, and its inode (each answer renames a new file in)."""
    return path.read_bytes(), path.stat().st_ino


def test_the_answer_api_takes_a_whole_index_and_an_answer_string_only(served):
    path = urllib.parse.urlsplit(served.url).path + "api/answer"
    headers = {"Content-Type": "application/json", "X-Smallmines-Session": _session_key(served.url)}
    labels = served.session.labels_path
    before = _untouched(labels)
    refused = {400: [b'{"index": Infinity, "answer": "1"}', b'{"index": -Infinity, "answer": "1"}',
                     b'{"index": NaN, "answer": "1"}', b'{"index": 1e400, "answer": "1"}',
                     b'{"index": true, "answer": "1"}', b'{"index": false, "answer": "1"}',
                     b'{"index": 2.9, "answer": "1"}', b'{"index": 2.0, "answer": "1"}',
                     b'{"index": "2", "answer": "1"}', b'{"index": null, "answer": "1"}',
                     b'{"index": [2], "answer": "1"}',
                     b'{"index": 0, "answer": 1}', b'{"index": 0, "answer": 0}', b'{"index": 0, "answer": true}',
                     b'{"index": 0, "answer": ["1"]}', b'{"index": 0, "answer": "U"}', b'{"index": 0, "answer": " 1"}',
                     b'{"index": 0}', b'{"answer": "1"}', b'{"index": 0, "answer": "1", "reference": "0"}',
                     b'{"index": 0, "index": 1, "answer": "1"}', b'{"index": 0, "answer": "u", "answer": "1"}',
                     b'[0, "1"]', b'"1"', b"1", b"[" * 1000, b'{"index": 0, "answer": "1"', b"\xff\xfe\x00",
                     b"x" * 2000],
               404: [b'{"index": -1, "answer": "1"}', b'{"index": 20, "answer": "1"}',
                     b'{"index": 100000000000000000000000000000, "answer": "1"}']}
    for status, bodies in refused.items():
        for body in bodies:
            assert _raw(served, "POST", path, body, headers)[0] == status, body
    assert served.session.labelled == 0 and _untouched(labels) == before  # nothing was written
    assert _raw(served, "POST", path, b'{"index": 2, "answer": "1"}', headers)[0] == 200  # well formed: taken
    assert served.session.labelled == 1 and _untouched(labels) != before


def test_only_local_host_names_and_the_page_itself_get_through(served):
    port = served.server_address[1]
    path = urllib.parse.urlsplit(served.url).path
    key = _session_key(served.url)
    labels = served.session.labels_path
    before = _untouched(labels)
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1", f"localhost:{port}.x",
                 f"127.0.0.1.evil.example:{port}", f"[::1]:{port}"):  # DNS rebinding sends the attacker's name
        for page in ("", "api/state", "api/point/0"):
            status, body = _raw(served, "GET", path + page, headers={"Host": host})
            assert status == 403 and f"served as 127.0.0.1:{port} or localhost:{port} only".encode() in body, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
        assert _raw(served, "GET", path + "api/state", headers={"Host": host})[0] == 200

    answer = b'{"index": 0, "answer": "1"}'
    page = {"Content-Type": "application/json", "X-Smallmines-Session": key, "Origin": f"http://127.0.0.1:{port}"}
    refused = [{**page, "Host": "evil.example", "Origin": "http://evil.example"},
               {**page, "Origin": "http://evil.example"}, {**page, "Origin": "null"},
               {**page, "Origin": f"http://127.0.0.1:{port + 1}"}, {**page, "Origin": f"https://127.0.0.1:{port}"},
               {**page, "Origin": f"http://localhost:{port}"},  # not the host the request went to
               {k: v for k, v in page.items() if k != "X-Smallmines-Session"},
               {**page, "X-Smallmines-Session": key[:-1] + ("A" if key[-1] != "A" else "B")},
               {}]  # the token, and nothing else
    for headers in refused:
        status, body = _raw(served, "POST", path + "api/answer", answer, headers)
        assert status == 403 and body.startswith(b"forbidden"), headers
    assert _raw(served, "POST", path + "api/answer", answer, {**page, "Content-Type": "text/plain"})[0] == 415
    assert served.session.labelled == 0 and _untouched(labels) == before
    assert _raw(served, "POST", path + "api/answer", answer, page)[0] == 200
    no_origin = {k: v for k, v in page.items() if k != "Origin"}  # a script, or a browser that sends none
    assert _raw(served, "POST", path + "api/answer", b'{"index": 1, "answer": "0"}', no_origin)[0] == 200
    local = {**page, "Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    assert _raw(served, "POST", path + "api/answer", b'{"index": 2, "answer": "u"}', local)[0] == 200
    assert served.session.labelled == 3


class _ElsewherePage(http.server.BaseHTTPRequestHandler):
    """A page of another site (another origin: 127.0.0.1 on another port)."""

    def do_GET(self):
        body = b"<!doctype html><title>elsewhere</title><p>another site"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def test_another_site_in_the_browser_cannot_answer(served, headless_chromium):
    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ElsewherePage)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    sent = """async (target) => {
        const body = '{"index": 0, "answer": "1"}';
        const outcome = [];
        // A simple request, as a form can send one: no preflight; its reply is unreadable, but it reaches the server.
        try {
            await fetch(target, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
            outcome.push("sent");
        } catch (error) { outcome.push("failed"); }
        // With the page's header: the browser asks the server first (preflight), which allows nothing.
        try {
            await fetch(target, {method: "POST", headers: {"Content-Type": "application/json",
                                                           "X-Smallmines-Session": "a guess"}, body});
            outcome.push("sent");
        } catch (error) { outcome.push("failed"); }
        return outcome;
    }"""
    try:
        with headless_chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{elsewhere.server_address[1]}/")
            assert page.evaluate(sent, served.url + "api/answer") == ["sent", "failed"]
            from playwright.sync_api import expect
            page.goto(served.url)  # the labelling page itself still answers, from the same browser
            expect(page.locator("#progress")).to_have_text(f"0 / {N_POINTS} labelled")
            page.keyboard.press("1")
            expect(page.locator("#progress")).to_have_text(f"1 / {N_POINTS} labelled")
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    assert served.session.labelled == 1


def test_a_session_resumes_and_refuses_the_labels_of_another_sample(site, tmp_path):
    labels = tmp_path / "labels.csv"
    session = LabelSession(site["points"], site["scenes"], labels, "me", SEED)
    _, rows = _read_labels(labels)  # written at once, every point unlabelled
    assert len(rows) == N_POINTS and not any(r["reference"] or r["confidence"] for r in rows)
    session.answer(0, "1")
    session.answer(5, "0")
    again = LabelSession(site["points"], site["scenes"], labels, "someone else", SEED)
    assert again.answers == session.answers and again.state()["start"] == 1
    other = read_points(site["points"])
    other["lon"] = np.asarray(other["lon"], float) + 1e-4  # another sample with the same ids
    write_points(other, tmp_path / "other.csv", "EPSG:32630")
    with pytest.raises(ValueError, match="plot 1 is not where the points file puts it"):
        LabelSession(tmp_path / "other.csv", site["scenes"], labels, "me")
    with pytest.raises(ValueError, match="is the input"):
        LabelSession(site["points"], site["scenes"], site["points"], "me")
    text = labels.read_text().splitlines()
    labels.write_text("\n".join([*text[:3], text[3].rsplit(",", 4)[0], *text[4:]]) + "\n")  # a row cut short
    with pytest.raises(ValueError, match="labels.csv, line 4: not 11 fields; is it a labels file that was edited"):
        LabelSession(site["points"], site["scenes"], labels, "me")


def test_points_outside_every_scene_are_refused_with_their_ids(site, tmp_path, capsys):
    points = read_points(site["points"])
    points["lon"] = np.asarray(points["lon"], float)
    points["lon"][[2, 7]] += 1.0  # ~110 km east
    write_points(points, tmp_path / "far.csv", "EPSG:32630")
    code = main(["label", str(tmp_path / "far.csv"), "--scene", str(site["scenes"][0]), "--no-browser"])
    assert code == 1
    assert (f"2 point(s) of {tmp_path / 'far.csv'} lie outside every scene (ids {points['id'][2]}, {points['id'][7]})"
            in capsys.readouterr().err)
    assert not (tmp_path / "far_labels.csv").exists()


@pytest.mark.parametrize("column, value, row", [("lon", 200.0, 3), ("lat", 95.0, 6), ("lat", np.nan, 1)])
def test_points_off_the_globe_are_refused_with_the_file_and_row(site, tmp_path, capsys, column, value, row):
    points = read_points(site["points"])
    points[column] = np.asarray(points[column], float)
    points[column][row - 1] = value
    write_points(points, tmp_path / "off.csv", "EPSG:32630")
    code = main(["label", str(tmp_path / "off.csv"), "--scene", str(site["scenes"][0]), "--no-browser"])
    err = capsys.readouterr().err
    assert code == 1 and "unexpected error" not in err
    assert f"{tmp_path / 'off.csv'}, row {row}: {column} {value} is not a WGS 84 {column}" in err
    assert not (tmp_path / "off_labels.csv").exists()


def test_the_labels_file_shows_no_formula_to_a_spreadsheet(site, tmp_path):
    points = read_points(site["points"])
    points["id"] = np.array([f"@{i}" if i % 2 else str(i) for i in range(N_POINTS)], dtype=object)
    write_points(points, tmp_path / "points.csv", "EPSG:32630")
    assert _points({"points": tmp_path / "points.csv"})[1]["id"] == "'@1"   # the points file, written by write_points
    session = LabelSession(tmp_path / "points.csv", site["scenes"], tmp_path / "labels.csv", "=HYPERLINK(1)", SEED)
    session.answer(0, "1")
    _, rows = _read_labels(tmp_path / "labels.csv")
    first = int(session.order[0])
    assert rows[first]["interpreter"] == "'=HYPERLINK(1)" and rows[first]["plot_id"] == points["id"][first].replace(
        "@", "'@")
    assert float(rows[first]["lon"]) < 0   # a negative coordinate stays a number


def test_a_scene_in_another_crs_is_read_in_its_own_grid(site):
    scene = ChipScene(site["scenes"][1])
    assert scene.crs == "EPSG:3857" and scene.label == "2016"
    points = read_points(site["points"])
    lon, lat = np.asarray(points["lon"], float), np.asarray(points["lat"], float)
    rows, cols, inside = scene.locate(lon, lat)
    assert inside.all()
    x, y = rasterio.warp.transform("EPSG:4326", "EPSG:3857", lon, lat)  # independently: the scene's value at the point
    with rasterio.open(site["scenes"][1]) as src:
        expected = np.array([v for v in src.sample(zip(x, y), indexes=[3, 2, 1])])
        assert [src.index(a, b) for a, b in zip(x, y)] == list(zip(rows, cols))
    for i in range(len(lon)):
        chip = scene.read(rows[i], cols[i], "true")
        np.testing.assert_array_equal(chip[:, CHIP_HALF, CHIP_HALF], expected[i])


def test_a_scene_missing_bands_shows_what_it_has(site, tmp_path):
    session = LabelSession(site["points"], site["scenes"], tmp_path / "labels.csv", "me", SEED)
    west = session.scenes[2]
    assert west.missing == {"true": [], "swir": ["B12", "B8A"], "vv": ["VV"]}
    inside = session.pixels[2][2]
    assert inside.any() and not inside.all()  # the west half: some points are outside this scene only
    shown = {session.point(k)["scenes"][2]["outside"]: k for k in range(N_POINTS)}
    k = shown[False]
    assert [c["missing"] for c in session.point(k)["scenes"][2]["chips"]] == [[], ["B12", "B8A"], ["VV"]]
    assert session.chip(k, 2, "true")[:4] == b"\x89PNG"
    with pytest.raises(LookupError, match="no 'swir' chip"):
        session.chip(k, 2, "swir")
    with pytest.raises(LookupError, match="no 'true' chip"):
        session.chip(shown[True], 2, "true")


def test_the_command_opens_the_page_and_a_stop_keeps_the_labels(site, tmp_path, monkeypatch, capsys):
    opened = []

    def browser(url):  # stands for the user's browser, then for the user pressing Ctrl-C
        redirect = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
        opened.append((url, redirect, open(redirect).read()))
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr("webbrowser.open", browser)
    labels = tmp_path / "labels.csv"
    assert main(["label", str(site["points"]), "--scene", str(site["scenes"][0]), "--out", str(labels)]) == 130
    out, err = capsys.readouterr()
    page = re.search(r"^open (\S+)", out, re.M)[1]
    assert page.startswith("http://127.0.0.1:") and len(opened) == 1
    url, redirect, text = opened[0]
    assert url.startswith("file://") and page not in url and f'content="0;url={page}"' in text
    assert not os.path.exists(redirect)
    assert f"0 / {N_POINTS} labelled (0 unsure), saved in {labels}" in out and "interrupted by SIGINT" in err
    assert f"the x, y of {site['points']} are copied into the labels file, not used: lon, lat place each point" in out
    assert len(_read_labels(labels)[1]) == N_POINTS
    with labels_lock(labels):  # the session's lock went with it
        pass


def test_a_port_in_use_is_a_clear_error(site, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["label", str(site["points"]), "--scene", str(site["scenes"][0]), "--out", str(tmp_path / "l.csv"),
                     "--port", str(port), "--no-browser"])
    assert code == 1
    assert f"port {port} on 127.0.0.1 is in use: choose another --port" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before the labels file or its lock was made


def test_a_second_session_on_the_same_labels_file_is_refused(site, tmp_path):
    labels = tmp_path / "labels.csv"
    with labels_lock(labels):
        done = subprocess.run([sys.executable, "-m", "smallmines_classic.cli", "label", str(site["points"]), "--scene",
                               str(site["scenes"][0]), "--out", str(labels), "--no-browser"],
                              capture_output=True, text=True, timeout=60)
        with pytest.raises(SessionLockedError), labels_lock(labels):
            pass
    assert done.returncode == 1
    assert f"smallmines label: error: another labelling session is using {labels}" in done.stderr
    with labels_lock(labels):  # released with the block
        pass


def test_the_browser_opens_through_a_private_redirect_file(site, tmp_path, headless_chromium):
    record = tmp_path / "browser.json"
    browser = tmp_path / "record-browser"  # stands for the user's browser: keeps its command line
    browser.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                       f"with open({str(record) + '.part'!r}, 'w') as handle:\n    json.dump(sys.argv, handle)\n"
                       f"os.replace({str(record) + '.part'!r}, {str(record)!r})\n")
    browser.chmod(0o700)
    proc, url, _ = _start_server(site, tmp_path / "labels.csv", browser=browser)
    token = url.rstrip("/").rsplit("/", 1)[1]
    try:
        end = time.monotonic() + 30
        while not record.exists():
            assert time.monotonic() < end and proc.poll() is None, "the browser was not opened"
            time.sleep(0.05)
        argv = json.loads(record.read_text())
        assert len(argv) == 2 and argv[1].startswith("file:///")
        assert not [arg for arg in argv if token in arg]
        assert token not in open(f"/proc/{proc.pid}/cmdline", "rb").read().decode()  # nor the server's own
        redirect = urllib.request.url2pathname(urllib.parse.urlsplit(argv[1]).path)
        folder = os.path.dirname(redirect)
        assert stat.S_IMODE(os.stat(redirect).st_mode) == 0o600 and os.stat(redirect).st_uid == os.getuid()
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and os.listdir(folder) == ["open.html"]
        with headless_chromium() as chromium:  # following the file leads to the page
            from playwright.sync_api import expect
            page = chromium.new_page()
            page.goto(argv[1])
            page.wait_for_url(url)
            expect(page.locator("#progress")).to_have_text(f"0 / {N_POINTS} labelled")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert not os.path.exists(redirect) and not os.path.exists(folder)


def test_the_lock_is_on_the_real_file_and_a_link_writes_to_it(site, tmp_path):
    labels = tmp_path / "real" / "labels.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(labels)
    with labelling_server(site["points"], site["scenes"], labels, interpreter="a", seed=SEED) as first:
        with pytest.raises(SessionLockedError, match=f"another labelling session is using {labels} "):
            with labelling_server(site["points"], site["scenes"], link, interpreter="b", seed=SEED):
                pass
        with pytest.raises(SessionLockedError):
            with labels_lock(link):
                pass
        first.session.answer(0, "1")
    # A session given the link reads and writes the file it points to; the link stays a link.
    with labelling_server(site["points"], site["scenes"], link, interpreter="b", seed=SEED) as second:
        assert second.session.labels_path == labels and second.session.labelled == 1
        second.session.answer(1, "0")
    assert link.is_symlink() and os.readlink(link) == str(labels)
    _, rows = _read_labels(labels)
    assert sum(bool(row["confidence"]) for row in rows) == 2
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real"]
    assert sorted(os.listdir(labels.parent)) == ["labels.csv", "labels.csv.lock"]


def test_a_refused_run_leaves_nothing_behind(site, tmp_path, capsys):
    scene = site["scenes"][1]
    other = tmp_path / "other_labels.csv"
    other.write_text(",".join(LABEL_COLUMNS) + "\n1,1,0.0,0.0,,,,,,,1\n")  # a labels file of another sample
    (tmp_path / "folder").mkdir()
    far = read_points(site["points"])
    far["lon"] = np.asarray(far["lon"], float) + 1.0
    write_points(far, tmp_path / "far.csv", "EPSG:32630")
    runs = {f"the output {scene} is the input {scene}": (site["points"], scene),
            f"{other} holds other points than this sample": (site["points"], other),
            f"cannot write {tmp_path / 'folder'}: it is a folder": (site["points"], tmp_path / "folder"),
            "lie outside every scene": (tmp_path / "far.csv", tmp_path / "far_labels.csv"),
            "has no column 'id'": (other, tmp_path / "labels.csv")}
    folders = (tmp_path, site["folder"])
    before = [sorted(os.listdir(folder)) for folder in folders], other.read_bytes()
    for message, (points, out) in runs.items():
        assert main(["label", str(points), "--scene", str(scene), "--out", str(out), "--no-browser"]) == 1
        assert message in capsys.readouterr().err
        assert ([sorted(os.listdir(folder)) for folder in folders], other.read_bytes()) == before, message


def test_points_of_a_change_map_or_without_map_class_are_refused(site, tmp_path):
    points = read_points(site["points"])
    points["map_class"] = np.where(np.arange(N_POINTS) == 4, "3", points["map_class"])
    write_points(points, tmp_path / "change.csv", "EPSG:32630")
    with pytest.raises(ValueError, match=f"points {points['id'][4]} have a map class other than 0 or 1"):
        LabelSession(tmp_path / "change.csv", site["scenes"], tmp_path / "l.csv", "me")
    del points["map_class"]
    write_points(points, tmp_path / "bare.csv", "EPSG:32630")
    with pytest.raises(ValueError, match="has no column 'map_class'"):
        LabelSession(tmp_path / "bare.csv", site["scenes"], tmp_path / "l.csv", "me")


def test_stretch_is_per_band_over_the_valid_pixels():
    rng = np.random.default_rng(0)
    chip = rng.normal(1000, 200, (3, 9, 9)).astype(np.float32)
    chip[1, 0, 0] = np.nan
    rgb = stretch(chip)
    for band in range(3):
        valid = chip[band][np.isfinite(chip[band])]
        low, high = np.percentile(valid, [2, 98])
        expected = np.clip((chip[band] - low) / (high - low) * 255, 0, 255).round()
        where = np.isfinite(chip).all(0)
        np.testing.assert_allclose(rgb[..., band][where], expected[where], atol=1)
    assert tuple(rgb[0, 0]) == NODATA_RGB
    grey = stretch(chip[:1])
    assert grey.shape == (9, 9, 3) and (grey[..., 0] == grey[..., 2]).all()


def test_assess_reports_unsure_points_and_leaves_them_out(site, tmp_path):
    points = read_points(site["points"])
    n = len(points["id"])
    reference = np.asarray(points["map_class"]).astype(str).astype(object)
    confidence = np.full(n, "sure", dtype=object)
    reference[[1, 4]], confidence[[1, 4]] = "", "unsure"
    reference[6] = ""  # not labelled at all: refused, and its row is the file's
    confidence[6] = ""
    points.update(reference=reference, confidence=confidence)
    write_points(points, tmp_path / "labels.csv", "EPSG:32630")
    with pytest.raises(ValueError, match=r"1 point\(s\) have no 'reference' label \(first at row 7\)"):
        assess_map(site["map"], tmp_path / "labels.csv")
    reference[6], confidence[6] = points["map_class"][6], "sure"
    write_points(points, tmp_path / "labels.csv", "EPSG:32630")
    with pytest.warns(NonResponseWarning, match=f"2 of {n} point.* left out of the estimate \\(ids "
                      f"{points['id'][1]}, {points['id'][4]}\\). This is non-response"):
        report = assess_map(site["map"], tmp_path / "labels.csv")
    keep = np.ones(n, bool)
    keep[[1, 4]] = False
    classes = np.asarray(points["map_class"]).astype(int)
    counts = np.zeros((2, 2), int)
    np.add.at(counts, (classes[keep], classes[keep]), 1)
    assert report["counts"].tolist() == counts.tolist()
    assert report["unsure"] == {"count": 2, "ids": [str(points["id"][1]), str(points["id"][4])],
                                "per_map_class": np.bincount(classes[~keep], minlength=2).tolist()}
    np.testing.assert_allclose(report["estimate"].area, estimate_area(counts, report["mapped_pixels"] * 100.0).area)
