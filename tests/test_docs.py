"""The docs site: every public name is documented in the API reference, with a docstring; the pages are linked.

The site itself is built by ``mkdocs build --strict`` in CI (``.ci/run``), which also runs the pages' examples and
fails on a broken link; these tests check what that build does not: that no public name is left out.
"""

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("griffe", reason="the docs packages (mkdocstrings) are in the dev extra")

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _docs_module(name):
    """A helper module of ``docs/`` (not a package: MkDocs puts ``docs/`` on the path while it builds)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_names = _docs_module("api_names")


@pytest.fixture(scope="module")
def names():
    return api_names.public_names()


@pytest.fixture(scope="module")
def documented():
    """Paths of the objects the API pages document: each ``::: identifier``, and the public members of a module
    documented whole."""
    trees = {package: api_names.load(package) for package in ("smallmines_classic", "smallmines_deep")}
    paths = set()
    for page in sorted((DOCS / "api").glob("*.md")):
        for identifier in re.findall(r"^::: *(\S+)", page.read_text(encoding="utf-8"), flags=re.M):
            package, _, rest = identifier.partition(".")
            obj = trees[package][rest] if rest else trees[package]
            obj = obj.final_target if obj.is_alias else obj
            paths.add(obj.path)
            if obj.is_module:
                public = obj.exports if obj.exports is not None else [n for n in obj.members if not n.startswith("_")]
                paths.update(obj[name].final_target.path if obj[name].is_alias else obj[name].path for name in public)
    return paths


def test_the_public_names_include_both_packages(names):
    packages = {package for exporters, _ in names.values() for package in exporters}
    assert {"smallmines_classic", "smallmines_classic.io", "smallmines_deep"} <= packages
    assert names["RandomForestSegmenter"][1].path == "smallmines_classic.models.forest.RandomForestSegmenter"
    assert names["UNetSegmenter"][1].path == "smallmines_deep.unet.UNetSegmenter"
    assert names["MAP_NODATA"][1].path == "smallmines_classic.io.raster.MAP_NODATA"


def test_every_public_name_is_in_the_api_reference(names, documented):
    missing = sorted(f"{name} ({obj.path})" for name, (_, obj) in names.items() if obj.path not in documented)
    assert missing == [], "add a ::: line to a page of docs/api/ for each"


def test_every_public_name_has_a_docstring(names):
    # griffe reads what mkdocstrings renders: for a constant, the string literal that follows its assignment.
    bare = sorted(obj.path for _, obj in names.values() if not (obj.docstring and obj.docstring.value.strip()))
    assert bare == []


def test_every_api_identifier_names_something(documented):
    # A typo in a ::: line would fail the build; here it fails with the name.
    assert "smallmines_classic.errors.SmallminesError" in documented  # a member of a module documented whole
    assert "smallmines_classic._signals.Interrupted" in documented


def test_the_readme_links_every_page_of_the_site():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    pages = {f"docs/{path.relative_to(DOCS).as_posix()}" for path in DOCS.glob("*.md")} | {"docs/api/index.md"}
    assert linked == pages


def test_ci_builds_the_site_strictly():
    assert re.search(r"mkdocs build --strict", (REPO / ".ci" / "run").read_text())


def test_the_console_helper_shows_a_command_and_fails_on_an_unexpected_exit(tmp_path):
    console = _docs_module("console")
    shown = console.run("--help")
    assert shown.startswith("$ smallmines --help\nusage: smallmines")
    refused = console.run("area missing.tif", tmp_path, expect=1)
    assert refused.splitlines()[1].startswith("smallmines area: error: ")
    with pytest.raises(RuntimeError, match="exit code 1, expected 0"):
        console.run("area missing.tif", tmp_path)
