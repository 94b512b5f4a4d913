"""Every ``smallmines [COMMAND] --help`` text is the one recorded in tests/cli/help (at COLUMNS=100); every command has
a one-line description and examples that parse.

After changing a help text on purpose, re-record them all with ``python -m tests.cli.test_help`` (from the repository
root) and commit the new texts with the change.
"""

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from smallmines_classic.cli import build_parser

RECORDED = Path(__file__).parent / "help"
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def _help(argv, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps at the terminal's width
    return _printed_help(argv)


def _printed_help(argv):
    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 0
    return text.getvalue()


def test_every_command_has_a_recorded_help_text():
    assert sorted(path.stem for path in RECORDED.glob("*.txt")) == sorted(["smallmines", *COMMANDS])


@pytest.mark.parametrize("command", ["smallmines", *COMMANDS])
def test_help_text_is_the_recorded_one(command, monkeypatch):
    argv = ["--help"] if command == "smallmines" else [command, "--help"]
    assert _help(argv, monkeypatch) == (RECORDED / f"{command}.txt").read_text()


def _examples(parser):
    """The command lines of a parser's examples, continuation lines joined."""
    text = parser.epilog.split("examples:\n", 1)[1].replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_one_line_description_and_examples_that_parse(command):
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    summary = parser.description.split("\n\n")[0]
    assert "\n" not in summary and summary.endswith(".") and summary[0].isupper()
    examples = _examples(parser)
    assert examples and all(example.startswith(f"smallmines {command}") for example in examples)
    for example in examples:
        assert build_parser().parse_args(shlex.split(example)[1:]).command == command


def test_the_program_help_points_to_the_tour(monkeypatch):
    text = _help(["--help"], monkeypatch)
    assert "new here? smallmines tour runs the whole chain offline" in " ".join(text.split())


if __name__ == "__main__":   # re-record every help text
    import os

    os.environ["COLUMNS"] = "100"
    for name in ("smallmines", *COMMANDS):
        (RECORDED / f"{name}.txt").write_text(_printed_help(["--help"] if name == "smallmines" else [name, "--help"]))
