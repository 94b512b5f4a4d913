"""The tour's folder, made once per session by ``smallmines tour`` at its smallest: the tour's own test reads it, and
its twin, items, regions, model and monitor folder are real inputs for the tests of the other commands."""

import contextlib
import io

import pytest

from smallmines_classic.cli import main

#: The smallest tour: a 2 x 2-tile twin (256 x 256 px), 3 trees, 40 sample points.
TOUR_ARGS = ["--tiles", "4", "--trees", "3", "--points", "40", "--jobs", "1"]


@pytest.fixture(scope="session")
def tour(tmp_path_factory):
    """``{"out": folder, "stdout": what the command printed, "code": its exit code}``."""
    pytest.importorskip("odc.stac", reason="the tour needs the maps extra")
    pytest.importorskip("folium", reason="the tour needs the maps extra")
    out = tmp_path_factory.mktemp("tour") / "tour"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["tour", "-o", str(out), *TOUR_ARGS])
    return {"out": out, "stdout": printed.getvalue(), "code": code}
