import re
import subprocess
import sys

import pytest
import rasterio

from smallmines_classic.cli import main


def test_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_synth_train_evaluate(tmp_path, capsys):
    data, model = tmp_path / "data", tmp_path / "rf.skops"
    assert main(["-q", "synth", "-o", str(data), "--tiles", "6", "--seed", "1"]) == 0
    with rasterio.open(data / "2022/IMAGE/IMG_GH_0006_2022.tif") as src:
        assert src.count == 13
    assert main(["-q", "train", str(data), "-o", str(model), "--preset", "paper-rgb", "--trees", "5",
                 "--max-pixels", "5000"]) == 0
    assert model.is_file()
    named = tmp_path / "named.skops"
    assert main(["-q", "train", str(data), "-o", str(named), "--bands", "B8A", "swir1", "--trees", "2",
                 "--max-pixels", "2000"]) == 0
    assert "bands ['B8A', 'B11']" in capsys.readouterr().out
    assert main(["-q", "evaluate", str(model), "--data", str(data), "--table", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "IoU" in out and "B04+B03+B02" in out
    header = "model,bands,iou,sdc,precision,recall,paper_iou,iou_lo,iou_hi,sdc_lo"
    assert (tmp_path / "t.csv").read_text().startswith(header)


def test_errors_exit_1_with_a_message(tmp_path, capsys):
    assert main(["-q", "evaluate", str(tmp_path / "missing.skops"), "--data", str(tmp_path)]) == 1
    assert "missing.skops does not exist" in capsys.readouterr().err


def test_unforeseen_errors_are_one_line_unless_debugging(tmp_path, capsys, monkeypatch):
    def fail(args):
        raise KeyError("boom")

    monkeypatch.setattr("smallmines_classic.cli.area.run", fail)
    monkeypatch.delenv("SMALLMINES_DEBUG", raising=False)
    assert main(["-q", "area", str(tmp_path / "map.tif")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error (KeyError: 'boom')" in err and "SMALLMINES_DEBUG=1" in err
    monkeypatch.setenv("SMALLMINES_DEBUG", "1")
    with pytest.raises(KeyError, match="boom"):
        main(["-q", "area", str(tmp_path / "map.tif")])


@pytest.mark.slow
def test_demo_shows_each_phase_and_writes_table_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMALLMINES_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--tiles", "9", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    phases = [line for line in captured.out.splitlines() if re.search(r" in \d+\.\d s$", line)]
    from smallmines_classic.io.dataset import find_patches

    twin = tmp_path / "cache" / next(p.name for p in (tmp_path / "cache").iterdir())
    train, test = len(find_patches(twin, split="train")), len(find_patches(twin, split="test"))
    assert [re.sub(r" in \d+\.\d s$", "", line) for line in phases] == [
        "synthetic twin of 9 tiles ready", "loaded the train and test splits",
        f"RF rgb: fitted 100 trees on {train} patches", f"RF rgb+: fitted 100 trees on {train} patches",
        f"RF rgb: predicted {test} test patches", "RF rgb: 95 % intervals from 1000 bootstrap resamples",
        f"RF rgb+: predicted {test} test patches", "RF rgb+: 95 % intervals from 1000 bootstrap resamples"]
    assert "fitting trees" in captured.err and "predicting" in captured.err   # the forests' bars
    assert "RF     rgb+" in captured.out and "demo_predictions.png" in captured.out
    assert (tmp_path / "out/demo_predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert "| RF | rgb |" in (tmp_path / "out/demo_table.md").read_text()
    assert main(["-q", "demo", "--tiles", "9", "--out", str(tmp_path / "quiet")]) == 0   # -q: the table alone
    captured = capsys.readouterr()
    assert captured.err == "" and not re.search(r" in \d+\.\d s$", captured.out, re.MULTILINE)
    assert "RF     rgb+" in captured.out


def test_building_the_parser_imports_no_heavy_library():
    """The help needs argparse only: no numpy, scikit-learn, rasterio... and never torch, CuPy or cuML."""
    heavy = ("numpy", "sklearn", "rasterio", "scipy", "numba", "pyproj", "shapely", "pandas", "torch", "cupy", "cuml")
    code = ("import sys, smallmines_classic\nfrom smallmines_classic.cli import build_parser\nbuild_parser()\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
