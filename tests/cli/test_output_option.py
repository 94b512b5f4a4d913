"""One ``-o/--out`` for every command that writes; 0.2.0's positional output still works for a release, and warns."""

import pytest
import rasterio

from smallmines_classic.cli import build_parser, main
from tests.helpers import write_raster

# Each command that took its output as its last positional argument: the arguments before it.
POSITIONAL = {"synth": [], "train": ["data"], "predict": ["model.skops", "scene.tif"], "convert-model": ["old.joblib"],
              "polygons": ["map.tif"], "change": ["old.tif", "new.tif"]}


def _warning(command, out):
    return (f"smallmines {command}: warning: the output as a positional argument ({out}) is deprecated and will stop "
            f"working in the next release; give it as -o/--out {out}\n")


@pytest.mark.parametrize("command", POSITIONAL)
def test_the_positional_output_is_read_as_out_with_a_deprecation(command):
    before = POSITIONAL[command]
    new = vars(build_parser().parse_args([command, *before, "-o", "x.out"]))
    for old_form in ([command, *before, "x.out"], [command, *before, "-q", "x.out"]):  # also after an option
        old = vars(build_parser().parse_args(old_form))
        assert old.pop("deprecations") == [_warning(command, "x.out").split(": warning: ")[1].rstrip()]
        assert {**old, "quiet": False} == {**new, "quiet": False}
    assert "deprecations" not in new and new["out"] == "x.out"


@pytest.mark.parametrize("command", POSITIONAL)
def test_the_output_given_twice_or_not_at_all_is_a_usage_error(command, capsys):
    before = POSITIONAL[command]
    with pytest.raises(SystemExit) as twice:
        build_parser().parse_args([command, *before, "a.out", "-o", "b.out"])
    assert twice.value.code == 2
    assert "the output is given twice, as -o/--out b.out and as the positional a.out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        build_parser().parse_args([command, *before])
    assert missing.value.code == 2
    assert f"smallmines {command}: error: the following arguments are required: -o/--out" in capsys.readouterr().err


def test_every_command_that_writes_has_one_out_option_with_its_short_form():
    commands = build_parser()._subparsers._group_actions[0].choices
    writers = {name for name, parser in commands.items() if any("--out" in a.option_strings for a in parser._actions)}
    assert writers == {*POSITIONAL, "demo", "sample", "label", "composite", "monitor", "report", "reproduce",
                       "tour", "download"}
    for name in writers:
        [out] = [a for a in commands[name]._actions if "--out" in a.option_strings]
        assert out.option_strings == ["-o", "--out"] and out.dest == "out", name


def test_the_positional_output_still_writes_and_warns_once(twin_root, mask, tmp_path, capsys):
    """synth, train, predict, polygons and change in 0.2.0's form (convert-model: tests/models/test_persistence.py)."""
    steps = {"synth": [tmp_path / "twin", "--tiles", "2", "--years", "2022"],
             "train": [twin_root, tmp_path / "rf.skops", "--bands", "rgb", "--trees", "2", "--max-pixels", "2000"],
             "predict": [tmp_path / "rf.skops", twin_root / "2022/IMAGE/IMG_GH_0001_2022.tif", tmp_path / "map.tif"],
             "polygons": [write_raster(tmp_path / "mask.tif", mask), tmp_path / "mines.geojson"],
             "change": [tmp_path / "mask.tif", tmp_path / "mask.tif", tmp_path / "change.tif"]}
    outputs = {"synth": 0, "train": 1, "predict": 2, "polygons": 1, "change": 2}
    for command, argv in steps.items():
        assert main(["-q", command, *map(str, argv)]) == 0, capsys.readouterr().err
        assert capsys.readouterr().err == _warning(command, argv[outputs[command]])
        assert argv[outputs[command]].exists()
    with rasterio.open(tmp_path / "map.tif") as written:
        assert written.count == 1 and written.shape == (128, 128)
