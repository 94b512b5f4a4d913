"""Write the model files that tests/models/test_old_model_files.py loads: files of smallmines 0.2.0.

Run once, at commit f580dbb (main, package version 0.2.0, model file format 2), from the repository root:

    PYTHONPATH=$PWD python tests/data/make_0_2_0_files.py

It wrote, beside this script:

- ``forest_0_2_0.skops``: a tiny RandomForestSegmenter (RGB, 2 trees of depth 3) fitted on 4 patches of the
  synthetic twin (8 tiles, seed 3);
- ``forest_0_2_0_input.npy``: a fixed input, 2 patches of the twin (its RGB bands, 32 x 32 pixels), float32;
- ``forest_0_2_0_proba.npy``: what the model predicted for that input (``predict_proba``, float32) at that commit.

No deep file: the smallest U-Net segmentation-models-pytorch builds (encoder timm-mobilenetv3_small_minimal_100,
random weights) is 12.4 MB of weights (resnet18: 57 MB), far over what belongs in the repository.
Re-running it later writes files of the running release, not of 0.2.0: the script refuses to.
"""

import tempfile
from pathlib import Path

import numpy as np

from smallmines_classic import RandomForestSegmenter, load_smallminesds, make_synthetic_smallminesds
from smallmines_classic.models.persistence import FORMAT_VERSION, package_version

HERE = Path(__file__).parent
RGB = ("B04", "B03", "B02")


def main():
    if (package_version(), FORMAT_VERSION) != ("0.2.0", 2):
        raise SystemExit(f"this is smallmines {package_version()} (model file format {FORMAT_VERSION}), not 0.2.0")
    with tempfile.TemporaryDirectory() as folder:
        twin = load_smallminesds(make_synthetic_smallminesds(Path(folder) / "twin", 8, seed=3, progress=False),
                                 progress=False)
    model = RandomForestSegmenter(bands="rgb", n_estimators=2, max_depth=3, max_pixels=4000, random_state=0)
    model.fit(twin.images[:4], twin.masks[:4])
    rgb = [twin.band_names.index(band) for band in RGB]
    X = np.ascontiguousarray(twin.images[4:6][:, rgb, :32, :32], dtype=np.float32)
    model.save(HERE / "forest_0_2_0.skops")
    np.save(HERE / "forest_0_2_0_input.npy", X)
    np.save(HERE / "forest_0_2_0_proba.npy", model.predict_proba(X, band_names=RGB))


if __name__ == "__main__":
    main()
