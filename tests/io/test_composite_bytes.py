"""The composite's output does not change when its code is made faster: the same pixels, the same bytes.

tests/data/composite_record.json holds what the code before the speed-up
(issue 28 item 4) wrote for the benchmark's items (benchmarks/composite.py,
``write_items``: 6 Sentinel-2 items with 20 m bands, clouds and two
baselines, 3 Sentinel-1 items, a geographic DEM) over a 150 x 150 px box, in
windows of 64 px (partial windows at the edges): the SHA-256 of the decoded
pixels of the scene and of its ``_obs.tif``, and of the two files. The files'
bytes depend on GDAL's compression library, so they are compared where GDAL
is the version that recorded them; the pixels everywhere.

Re-record (only on purpose, with the code the record is to hold):
``python -m tests.io.test_composite_bytes``.
"""

import hashlib
import json
from pathlib import Path

import pytest
import rasterio

pytest.importorskip("odc.stac")

from benchmarks.composite import write_items  # noqa: E402
from smallmines_classic.io.composite import build_composite, observations_path  # noqa: E402

RECORD = Path(__file__).parents[1] / "data" / "composite_record.json"
SIDE, CHUNK = 150, 64


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def composite_digests(folder):
    """Build the composite of the benchmark's items in ``folder``: the digests of its pixels and files."""
    items, bbox = write_items(Path(folder) / "items", SIDE, 6, 3)
    out = Path(folder) / "scene.tif"
    build_composite(list(bbox), 2022, out, items=items, chunk_size=CHUNK, progress=False)
    digests = {"gdal": rasterio.__gdal_version__}
    for name, path in (("scene", out), ("obs", observations_path(out))):
        with rasterio.open(path) as src:
            pixels = src.read()
        digests[f"{name}_pixels"] = _sha256(pixels.tobytes())
        digests[f"{name}_file"] = _sha256(path.read_bytes())
    return digests


def test_the_composite_is_the_one_the_code_before_wrote(tmp_path):
    recorded, made = json.loads(RECORD.read_text()), composite_digests(tmp_path)
    assert made["scene_pixels"] == recorded["scene_pixels"] and made["obs_pixels"] == recorded["obs_pixels"]
    if made["gdal"] != recorded["gdal"]:
        pytest.skip(f"the files' bytes were recorded with GDAL {recorded['gdal']}, this is {made['gdal']}")
    assert made["scene_file"] == recorded["scene_file"] and made["obs_file"] == recorded["obs_file"]


if __name__ == "__main__":   # re-record
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        RECORD.write_text(json.dumps(composite_digests(folder), indent=1) + "\n")
    print(RECORD.read_text())
