"""What the command prints for an error: a user's mistake in one line, a bug as an unexpected error to report."""

import sys

import pyogrio.errors
import pytest
import rasterio.errors

from smallmines_classic._backend import require, resolve_device
from smallmines_classic.cli import main
from smallmines_classic.errors import DeviceError, InputError, MissingExtraError, SmallminesError
from tests.helpers import write_raster


def _fail_with(monkeypatch, error):
    def run(args):
        raise error

    monkeypatch.setattr("smallmines_classic.cli.area.run", run)
    monkeypatch.delenv("SMALLMINES_DEBUG", raising=False)


@pytest.mark.parametrize("error", [
    InputError("map.tif is not a mask map"), MissingExtraError("this needs shapely"), FileNotFoundError("no map.tif"),
    PermissionError("map.tif: permission denied"), rasterio.errors.RasterioIOError("map.tif: not a raster"),
    rasterio.errors.WindowError("window outside the map"), rasterio.errors.CRSError("unknown CRS"),
    pyogrio.errors.DataSourceError("regions.gpkg: not a vector file"), pyogrio.errors.FieldError("no field NAME")])
def test_user_errors_are_one_error_line(error, monkeypatch, capsys):
    _fail_with(monkeypatch, error)
    assert main(["-q", "area", "map.tif"]) == 1
    assert capsys.readouterr().err == f"smallmines area: error: {error}\n"


@pytest.mark.parametrize("error", [ValueError("bad"), KeyError("boom"), RuntimeError("stuck"), TypeError("odd"),
                                   ImportError("a module our code forgot")])
def test_anything_else_is_an_unexpected_error_with_its_traceback_on_request(error, monkeypatch, capsys):
    _fail_with(monkeypatch, error)
    assert main(["-q", "area", "map.tif"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"smallmines area: unexpected error ({type(error).__name__}: {error}); set SMALLMINES_DEBUG")
    assert err.count("\n") == 1
    monkeypatch.setenv("SMALLMINES_DEBUG", "1")
    with pytest.raises(type(error)):
        main(["-q", "area", "map.tif"])


def test_ogr_errors_raised_by_the_library_itself_are_user_errors(tmp_path, mask, capsys):
    (tmp_path / "regions.gpkg").write_text("not a vector file")
    assert main(["-q", "area", str(write_raster(tmp_path / "map.tif", mask)), "--regions",
                 str(tmp_path / "regions.gpkg")]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("smallmines area: error: ") and "regions.gpkg" in line and "not recognized" in line


def test_a_bad_argument_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["assess", "map.tif", "points.csv", "--ceo-answer", "Mining"])
    assert exit_.value.code == 2 and "expected ANSWER TEXT=CLASS" in capsys.readouterr().err


@pytest.mark.parametrize("extra", ["maps", "deep"])
def test_a_missing_extra_names_both_ways_to_install_it(extra, monkeypatch):
    monkeypatch.setitem(sys.modules, "shapely", None)  # as if it were not installed
    with pytest.raises(MissingExtraError) as info:
        require("shapely", extra)
    assert isinstance(info.value, ImportError)
    assert str(info.value).startswith("this needs shapely, which is not installed")
    assert str(info.value).endswith(f"in a clone of the repository pip install -e '.[{extra}]', otherwise "
                                    f"pip install 'smallmines[{extra}]'")


def test_a_gpu_that_is_not_there_is_a_device_error():
    with pytest.raises(DeviceError, match="needs smallmines_no_such_module and a CUDA GPU") as info:
        resolve_device("gpu", modules=("smallmines_no_such_module",))
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, SmallminesError)
    with pytest.raises(InputError, match="device must be 'cpu', 'gpu' or 'auto'"):
        resolve_device("tpu")
