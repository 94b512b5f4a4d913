"""The output guard (:mod:`smallmines_classic._guards`): a run never writes over one of its inputs."""

import os
import re

import pytest

from smallmines_classic._guards import check_output_not_input
from smallmines_classic.errors import OutputError


def test_the_input_by_any_path_is_refused_as_output(tmp_path):
    source = tmp_path / "scene.tif"
    source.write_bytes(b"imagery")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tif").symlink_to(source)
    os.link(source, tmp_path / "hard.tif")
    for out in (source, tmp_path / "sub" / ".." / "scene.tif", tmp_path / "link.tif", tmp_path / "hard.tif"):
        with pytest.raises(OutputError, match=re.escape(f"the output {out} is the input {source}: writing it would "
                                                        "destroy the input")):
            check_output_not_input(out, None, source)
    assert source.read_bytes() == b"imagery"


def test_other_outputs_and_absent_inputs_pass(tmp_path):
    source = tmp_path / "scene.tif"
    source.write_bytes(b"imagery")
    (tmp_path / "copy.tif").write_bytes(b"imagery")  # the same bytes, another file
    for out in (tmp_path / "map.tif", tmp_path / "copy.tif"):
        assert check_output_not_input(out, source, None, tmp_path / "missing.tif") is None
