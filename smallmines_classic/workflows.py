"""The jobs behind the command line, as plain functions: demo, train, evaluate."""

import os
from pathlib import Path

import numpy as np

from .dataset import YEARS, load_smallminesds
from .forest import RandomForestSegmenter
from .metrics import segmentation_scores
from .plotting import plot_predictions
from .report import format_table, score_row, write_table
from .synthetic import make_synthetic_smallminesds

__all__ = ["default_cache_dir", "synthetic_twin", "evaluate_models", "run_demo"]

#: Demo settings: a small twin and fewer trees than the paper, to finish in about a minute on 2 cores.
DEMO_TILES = 64
DEMO_TREES = 100
DEMO_MAX_PIXELS = 100_000


def default_cache_dir():
    """``$SMALLMINES_CACHE``, else ``$XDG_CACHE_HOME/smallmines``, else ``~/.cache/smallmines``."""
    if os.environ.get("SMALLMINES_CACHE"):
        return Path(os.environ["SMALLMINES_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smallmines"


def synthetic_twin(n_tiles, seed=0, cache_dir=None, progress=True):
    """The synthetic twin of ``n_tiles`` tiles in the cache, generated on first use."""
    root = Path(cache_dir or default_cache_dir()) / f"twin-{n_tiles}-seed{seed}"
    # The split CSVs are written last: with both present the twin is complete.
    if not all((root / f"train_test_splits_{year}.csv").is_file() for year in YEARS):
        make_synthetic_smallminesds(root, n_tiles, seed=seed, progress=progress)
    return root


def evaluate_models(models, test):
    """Table rows (see :mod:`.report`) and predictions of fitted models on a loaded test set.

    ``models`` maps (model name, band-set label) to a fitted segmenter.
    """
    rows, predictions = [], {}
    for (name, bands), model in models.items():
        predicted = model.predict(test.images, test.band_names)
        predictions[f"{name} {bands}"] = predicted
        rows.append(score_row(name, bands, segmentation_scores(test.masks, predicted)))
    return rows, predictions


def run_demo(out_dir, n_tiles=DEMO_TILES, seed=0, n_jobs=None, progress=True):
    """The main job on the embedded default: twin -> forests on RGB and RGB+ -> Table I -> figure.

    Returns
    -------
    dict
        ``rows`` (the table), ``table`` (its text), ``data`` (twin folder),
        ``table_path``, ``figure_path``.
    """
    out_dir = Path(out_dir)
    root = synthetic_twin(n_tiles, seed, progress=progress)
    train = load_smallminesds(root, split="train", progress=progress)
    test = load_smallminesds(root, split="test", progress=progress)
    models = {
        ("RF", preset.removeprefix("paper-")): RandomForestSegmenter.from_preset(
            preset, n_estimators=DEMO_TREES, max_pixels=DEMO_MAX_PIXELS, n_jobs=n_jobs
        ).fit(train.images, train.masks, train.band_names)
        for preset in ("paper-rgb", "paper-rgb+")
    }
    rows, predictions = evaluate_models(models, test)
    # Show partly mined test patches: mines and their surroundings side by side.
    shares = test.masks.reshape(len(test), -1).mean(axis=1)
    shown = np.flatnonzero((shares > 0.05) & (shares < 0.6))[:4]
    figure = plot_predictions(
        out_dir / "demo_predictions.png", test.images[shown], test.masks[shown],
        {name: p[shown] for name, p in predictions.items()}, test.band_names,
        titles=[f"tile {test.tile_ids[i]:04d} / {test.years[i]}" for i in shown],
    )
    table_path = write_table(out_dir / "demo_table.md", rows)
    return {"rows": rows, "table": format_table(rows), "data": root, "table_path": table_path, "figure_path": figure}
