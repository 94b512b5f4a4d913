"""Model files carry their own format version: files of earlier releases load and predict as they did, a newer
format is refused with how to upgrade. The files in tests/data/ were written by 0.2.0 (see make_0_2_0_files.py)."""

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smallmines_classic import ModelFileError, RandomForestSegmenter
from smallmines_classic.models import persistence
from smallmines_classic.models.persistence import FORMAT_VERSION, RECORD_MEMBER, load_model
from tests.conftest import rewrite_zip

DATA = Path(__file__).resolve().parents[1] / "data"
FOREST_0_2_0 = DATA / "forest_0_2_0.skops"
RGB = ("B04", "B03", "B02")


def _with_record(source, target, **change):
    """``source`` with its record changed: a file as another release would have written it."""
    return rewrite_zip(source, target, RECORD_MEMBER, lambda data: json.dumps({**json.loads(data), **change}).encode())


@pytest.mark.parametrize("release", [None, "0.3.0", "1.4.2"])
def test_a_forest_file_of_0_2_0_predicts_as_it_did(release, monkeypatch):
    """Whatever release reads it (None: this one, as installed), as long as it reads format 2."""
    if release is not None:
        monkeypatch.setattr(persistence, "package_version", lambda: release)
    model = RandomForestSegmenter.load(FOREST_0_2_0)
    assert model.band_names_ == RGB and model.n_estimators == 2
    X = np.load(DATA / "forest_0_2_0_input.npy")
    np.testing.assert_array_equal(model.predict_proba(X, band_names=RGB), np.load(DATA / "forest_0_2_0_proba.npy"))


def test_the_stored_file_is_one_of_0_2_0():
    """The test above means something only if the file really comes from 0.2.0, in format 2."""
    with zipfile.ZipFile(FOREST_0_2_0) as archive:
        record = json.loads(archive.read(RECORD_MEMBER))
    assert (record["package_version"], record["format_version"]) == ("0.2.0", 2)


def test_a_newer_file_format_is_refused_with_how_to_upgrade(tmp_path):
    future = _with_record(FOREST_0_2_0, tmp_path / "future.skops", format_version=FORMAT_VERSION + 1,
                          package_version="9.0.0")
    with pytest.raises(ModelFileError, match=rf"future\.skops was written by smallmines 9\.0\.0 in model file format "
                                             rf"{FORMAT_VERSION + 1}; this is smallmines .*, which reads formats up to "
                                             rf"{FORMAT_VERSION}: upgrade smallmines"):
        load_model(future)


@pytest.mark.parametrize("version", [None, "2", 1, 0, [2]])
def test_a_record_without_a_format_it_knows_is_damaged(version, tmp_path):
    odd = _with_record(FOREST_0_2_0, tmp_path / "odd.skops", format_version=version)
    message = f"odd.skops has a damaged record: model file format {version!r}"
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model(odd)
