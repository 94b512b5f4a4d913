"""synth refuses a folder that is not empty unless told to overwrite."""

from pathlib import Path

import pytest

from smallmines_classic import make_synthetic_smallminesds
from smallmines_classic.cli import main


def test_synth_refuses_a_non_empty_folder_unless_overwrite(tmp_path, capsys):
    root = tmp_path / "twin"
    make_synthetic_smallminesds(root, 4, years=[2016, 2022], seed=1, n_jobs=1, progress=False)
    (root / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match=f"{root} is not empty: a twin written there would mix"):
        make_synthetic_smallminesds(root, 2, seed=2, n_jobs=1, progress=False)
    assert main(["-q", "synth", "-o", str(root), "--tiles", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smallmines synth: error: ") and "--overwrite" in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert main(["-q", "synth", "-o", str(root), "--tiles", "2", "--years", "2022", "--overwrite"]) == 0
    fresh = tmp_path / "fresh"
    make_synthetic_smallminesds(fresh, 2, years=[2022], seed=0, n_jobs=1, progress=False)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted([Path("notes.txt")] + [p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()])
    for rel in files:
        if rel.name != "notes.txt":  # the twin now there is the new one alone, byte for byte
            assert (root / rel).read_bytes() == (fresh / rel).read_bytes(), rel
    assert (root / "notes.txt").read_text() == "mine" and not (root / "2016").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        make_synthetic_smallminesds(tmp_path / "file", 2, progress=False)
