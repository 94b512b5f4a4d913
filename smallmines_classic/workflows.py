"""The jobs behind the command line, as plain functions: demo, evaluation, Table I."""

import contextlib
import os
import time
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from ._backend import install_hint
from .assessment import bootstrap_scores
from .defaults import DEMO_MAX_PIXELS, DEMO_TILES, DEMO_TREES
from .errors import InputError, MissingExtraError
from .io.dataset import YEARS, load_smallminesds
from .io.splits import spatially_disjoint_split
from .io.synthetic import TWIN_VERSION, make_synthetic_smallminesds
from .metrics import confusion_counts, segmentation_scores
from .models.forest import RandomForestSegmenter
from .plotting import plot_predictions
from .tables import format_table, score_row, write_table

__all__ = ["default_cache_dir", "synthetic_twin", "evaluate_models", "run_demo", "reproduce_table1", "PROTOCOL_MODELS"]


def default_cache_dir():
    """``$SMALLMINES_CACHE``, else ``$XDG_CACHE_HOME/smallmines``, else ``~/.cache/smallmines``."""
    if os.environ.get("SMALLMINES_CACHE"):
        return Path(os.environ["SMALLMINES_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smallmines"


def synthetic_twin(n_tiles, seed=0, cache_dir=None, progress=True):
    """The synthetic twin of ``n_tiles`` tiles in the cache, generated on first use."""
    root = Path(cache_dir or default_cache_dir()) / f"twin-{n_tiles}-seed{seed}-v{TWIN_VERSION}"
    # The split CSVs are written last: with both present the twin is complete; else what is there is replaced.
    if not all((root / f"train_test_splits_{year}.csv").is_file() for year in YEARS):
        make_synthetic_smallminesds(root, n_tiles, seed=seed, progress=progress, overwrite=True)
    return root


#: Bootstrap resamples of the test patches behind each score's 95 % interval.
N_RESAMPLES = 1000


def scored_row(name, bands, truth, predicted, n_resamples=N_RESAMPLES, seed=0):
    """A table row: pooled scores and their 95 % bootstrap intervals over patches (resampled whole)."""
    intervals = bootstrap_scores(confusion_counts(truth, predicted, per_image=True), n_resamples, seed=seed)
    return score_row(name, bands, segmentation_scores(truth, predicted), intervals)


@contextlib.contextmanager
def _timed(log, what):
    """Send ``log`` the line "``what`` in N s" when the block ends (nothing when ``log`` is None)."""
    started = time.perf_counter()
    yield
    if log is not None:
        log(f"{what} in {time.perf_counter() - started:.1f} s")


def evaluate_models(models, test, n_resamples=N_RESAMPLES, seed=0, log=None):
    """Table rows (see :mod:`.report`) and predictions of fitted models on a loaded test set.

    ``models`` maps (model name, band-set label) to a fitted segmenter. Each
    row carries 95 % intervals from ``n_resamples`` bootstrap resamples of
    the test patches (seeded, so the same for every model). ``log``, if
    given, receives a line for each model's predictions and intervals, with
    their times.
    """
    rows, predictions = [], {}
    for (name, bands), model in models.items():
        with _timed(log, f"{name} {bands}: predicted {len(test)} test patches"):
            predicted = model.predict(test.images, test.band_names)
        predictions[f"{name} {bands}"] = predicted
        with _timed(log, f"{name} {bands}: 95 % intervals from {n_resamples} bootstrap resamples"):
            rows.append(scored_row(name, bands, test.masks, predicted, n_resamples, seed))
    return rows, predictions


def run_demo(out_dir, n_tiles=DEMO_TILES, seed=0, n_jobs=None, progress=True, log=None):
    """The main job on the embedded default: twin -> forests on RGB and RGB+ -> Table I -> figure.

    ``progress`` shows bars (loading, and each forest's trees and predictions); ``log``, if given (``print``),
    receives one line per phase with its time: the twin, loading, each forest's fit, predictions and intervals.

    Returns
    -------
    dict
        ``rows`` (the table), ``table`` (its text), ``data`` (twin folder),
        ``table_path``, ``figure_path``.
    """
    out_dir = Path(out_dir)
    with _timed(log, f"synthetic twin of {n_tiles} tiles ready"):
        root = synthetic_twin(n_tiles, seed, progress=progress)
    with _timed(log, "loaded the train and test splits"):
        train = load_smallminesds(root, split="train", progress=progress)
        test = load_smallminesds(root, split="test", progress=progress)
    settings = {"trees": DEMO_TREES, "max_pixels": DEMO_MAX_PIXELS, "n_jobs": n_jobs, "verbose": progress}
    models = {}
    for label, bands, model in _forest_protocol(settings):
        with _timed(log, f"{label} {bands}: fitted {model.n_estimators} trees on {len(train)} patches"):
            models[label, bands] = model.fit(train.images, train.masks, train.band_names)
    rows, predictions = evaluate_models(models, test, log=log)
    figure = _prediction_figure(out_dir / "demo_predictions.png", test, predictions)
    table_path = write_table(out_dir / "demo_table.md", rows)
    return {"rows": rows, "table": format_table(rows), "data": root, "table_path": table_path, "figure_path": figure}


def _prediction_figure(path, test, predictions, n=4):
    """Fig.-5-style figure of partly mined test patches: mines and their surroundings side by side."""
    shares = test.masks.reshape(len(test), -1).mean(axis=1)
    shown = np.flatnonzero((shares > 0.05) & (shares < 0.6))[:n]
    return plot_predictions(path, test.images[shown], test.masks[shown],
                            {name: p[shown] for name, p in predictions.items()}, test.band_names,
                            titles=[f"tile {test.tile_ids[i]:04d} / {test.years[i]}" for i in shown])


#: Models ``reproduce_table1`` knows: the forest here, the deep ones through entry points.
PROTOCOL_MODELS = ("rf", "unet", "prithvi", "sam2")


def _forest_protocol(settings):
    names = (("n_estimators", "trees"), ("max_pixels", "max_pixels"), ("n_jobs", "n_jobs"), ("verbose", "verbose"))
    overrides = {k: settings[v] for k, v in names if settings.get(v) is not None}
    return [("RF", bands, RandomForestSegmenter.from_preset(f"paper-{bands}", **overrides))
            for bands in ("rgb", "rgb+")]


def _protocol(name):
    """The builder of one model's Table-I rows; deep ones come from the ``smallmines.protocol`` entry points."""
    if name == "rf":
        return _forest_protocol
    found = {ep.name: ep for ep in entry_points(group="smallmines.protocol")}
    if name not in found:
        raise InputError(f"unknown model {name!r}; valid are {list(PROTOCOL_MODELS)}")
    try:
        return found[name].load()
    except ImportError as error:
        raise MissingExtraError(f"model {name!r} needs PyTorch ({error}); {install_hint('deep')}") from error


def _run_protocol(builders, settings, train, test):
    """Fit every model of ``builders`` on ``train`` and score it on ``test``: rows and predictions."""
    fitted, prompted_rows = {}, []
    for build in builders:
        for label, bands, model in build(settings):
            model.fit(train.images, train.masks, train.band_names)
            if hasattr(model, "predict_proba_from_mask_prompts"):
                proba = model.predict_proba_from_mask_prompts(test.images, test.masks, test.band_names)
                predicted = (proba > model.threshold).astype(np.uint8)
                prompted_rows.append(scored_row(f"{label} (mask prompts)", bands, test.masks, predicted))
                label = f"{label} (automatic)"
            fitted[label, bands] = model
    rows, predictions = evaluate_models(fitted, test)
    return rows + prompted_rows, predictions


def reproduce_table1(root, models=("rf",), out_dir="smallmines-reproduce", settings=None, cache_dir=None,
                     progress=True):
    """Run the paper's protocol on a SmallMinesDS folder and compare with its Table I.

    Official split CSVs, the paper's band sets and hyper-parameters (see
    each model's defaults); ``settings`` may override ``trees``,
    ``max_pixels``, ``n_jobs``, ``epochs``, ``device``, ``random_state`` and
    the deep models' weights and sizes (see :mod:`smallmines_deep.protocol`).
    SAM-2 is scored twice: automatic (prompt-free) and with the paper's
    mask-derived prompts. Every score carries a 95 % bootstrap interval over
    test patches.

    Unless ``settings["disjoint"]`` is False, the protocol runs again on a
    spatially disjoint split (:func:`spatially_disjoint_split`: no location
    on both sides, 30 % of the tiles to test), so the two tables show how
    much of the official score comes from places seen in training.

    Returns
    -------
    dict
        ``rows``, ``table`` (text), ``table_paths`` (CSV and Markdown of each
        table), ``figure_path``; with the disjoint split also
        ``disjoint_rows`` and ``disjoint_table``.
    """
    settings = dict(settings or {})
    builders = [_protocol(name) for name in models]  # unknown names fail before any loading
    train = load_smallminesds(root, split="train", cache_dir=cache_dir, progress=progress)
    test = load_smallminesds(root, split="test", cache_dir=cache_dir, progress=progress)
    rows, predictions = _run_protocol(builders, settings, train, test)
    out_dir = Path(out_dir)
    result = {"rows": rows, "table": format_table(rows),
              "table_paths": [write_table(out_dir / "table1.csv", rows), write_table(out_dir / "table1.md", rows)],
              "figure_path": _prediction_figure(out_dir / "table1_predictions.png", test, predictions)}
    if settings.get("disjoint", True):
        shares = {**train.mining_shares(), **test.mining_shares()}
        split = spatially_disjoint_split(shares, 0.3, settings.get("random_state", 0))
        del train, test, predictions  # one pair of splits in memory at a time
        train = load_smallminesds(root, split="train", splits=split, cache_dir=cache_dir, progress=progress)
        test = load_smallminesds(root, split="test", splits=split, cache_dir=cache_dir, progress=progress)
        disjoint_rows, _ = _run_protocol(builders, settings, train, test)
        result.update(disjoint_rows=disjoint_rows, disjoint_table=format_table(disjoint_rows))
        result["table_paths"] += [write_table(out_dir / "table1_disjoint.csv", disjoint_rows),
                                  write_table(out_dir / "table1_disjoint.md", disjoint_rows)]
    return result
