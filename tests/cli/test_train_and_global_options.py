"""train's progress and score, and global options after any command."""

from smallmines_classic.cli import build_parser, main
from tests.helpers import write_raster


def test_global_options_are_accepted_after_every_command(tmp_path, mask, capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"predict", "sample", "assess", "train"} <= set(commands)
    for name, command in commands.items():
        assert any("-q" in action.option_strings for action in command._actions), name
    assert parser.parse_args(["area", "m.tif", "-q"]).quiet and not parser.parse_args(["area", "m.tif"]).quiet
    assert parser.parse_args(["-q", "area", "m.tif"]).quiet
    path = write_raster(tmp_path / "map.tif", mask)
    assert main(["area", "-q", str(path)]) == 0 and "map.tif" in capsys.readouterr().out


def test_train_shows_its_progress_and_scores_the_test_split(twin_root, tmp_path, capsys):
    out = tmp_path / "rf.skops"
    assert main(["train", str(twin_root), "-o", str(out), "--bands", "rgb", "--trees", "4", "--max-pixels",
                 "3000"]) == 0
    captured = capsys.readouterr()
    assert "reading SmallMinesDS" in captured.err and "fitting trees" in captured.err
    assert "Score on the test split" in captured.out
    row = next(line for line in captured.out.splitlines() if line.startswith("rf "))
    from smallmines_classic import load_smallminesds, segmentation_scores
    from smallmines_classic.models.persistence import load_model

    test = load_smallminesds(twin_root, split="test", progress=False)
    iou = segmentation_scores(test.masks, load_model(out).predict(test.images))["iou"]
    assert row.split()[2] == f"{iou:.4f}"
    assert load_model(out).verbose is False  # the bars were this run's, not the saved model's
    assert main(["-q", "train", str(twin_root), "-o", str(tmp_path / "quiet.skops"), "--trees", "2",
                 "--max-pixels", "2000"]) == 0
    assert capsys.readouterr().err == ""
