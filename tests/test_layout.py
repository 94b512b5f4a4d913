"""The package's shape: classic never imports deep, and 0.2.0's module paths still work for one release."""

import ast
import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import smallmines_classic
from smallmines_classic import RandomForestSegmenter
from smallmines_classic._moved import MOVED
from tests.conftest import rewrite_zip

ROOT = Path(smallmines_classic.__file__).parent


def _imported_names(source):
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""
        elif isinstance(node, ast.Call):  # import_module("...") and the like
            yield from (arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str))


def test_the_classic_package_never_imports_the_deep_one():
    offenders = [f"{source.relative_to(ROOT)}: {name}" for source in sorted(ROOT.rglob("*.py"))
                 for name in _imported_names(source) if name.startswith("smallmines_deep")]
    assert offenders == []


def test_the_package_itself_uses_no_old_path():
    old = {f"smallmines_classic.{name}" for name in MOVED}
    offenders = [f"{source.relative_to(ROOT)}: {name}" for source in sorted(ROOT.rglob("*.py"))
                 for name in _imported_names(source) if name in old]
    assert offenders == []


def test_every_old_module_path_is_the_new_module_with_a_warning():
    # A fresh interpreter, where no old name is cached from another test.
    code = """
import importlib, json, sys, warnings
import smallmines_classic as sm
from smallmines_classic._moved import MOVED
found = {}
for old, new in MOVED.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(f"smallmines_classic.{old}")
    found[old] = [[str(w.message) for w in caught if w.category is DeprecationWarning],
                  module is sys.modules[f"smallmines_classic.{new}"] is getattr(sm, old)]
print(json.dumps(found))
"""
    found = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert set(found) == set(MOVED)
    for old, (messages, same) in found.items():
        assert same, old
        assert (len(messages) == 1
                and f"smallmines_classic.{old} moved to smallmines_classic.{MOVED[old]}" in messages[0])


def test_public_names_of_old_modules_still_import():
    with pytest.warns(DeprecationWarning, match="moved to smallmines_classic.models.persistence"):
        convert = smallmines_classic.persistence.convert_legacy_model
    assert convert is importlib.import_module("smallmines_classic.models.persistence").convert_legacy_model
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        smallmines_classic.nothing_here


def test_a_forest_file_written_by_0_2_0_still_loads(twin, tmp_path):
    """0.2.0's skops files name the class at its old path, smallmines_classic.forest."""
    model = RandomForestSegmenter(bands="rgb", n_estimators=3, max_pixels=2000, random_state=0).fit(twin.images[:4],
                                                                                                   twin.masks[:4])
    new = model.save(tmp_path / "new.skops")

    def at_the_old_path(data):
        data = data.replace(b'"smallmines_classic.models.forest"', b'"smallmines_classic.forest"')
        assert b'"smallmines_classic.forest"' in data
        return data

    old = rewrite_zip(new, tmp_path / "old.skops", "schema.json", at_the_old_path)
    with warnings.catch_warnings():  # skops imports the old path, which warns (once per process)
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = RandomForestSegmenter.load(old)
    assert type(loaded) is RandomForestSegmenter
    assert (loaded.predict_proba(twin.images[4:6]) == model.predict_proba(twin.images[4:6])).all()


def _subpackage(parts):
    """The subpackage (io, models, mapping, ...) of a module's dotted parts under the package; "" for the root's."""
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else ""


def test_no_private_name_is_imported_across_subpackages():
    """A subpackage uses another's public names only; the root's plumbing (_writes, _backend, ...) is shared."""
    offenders = []
    for source in sorted(ROOT.rglob("*.py")):
        parts = ["smallmines_classic", *source.relative_to(ROOT).with_suffix("").parts]
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.level or (node.module or "").startswith(parts[0])):
                continue
            base = parts[:len(parts) - node.level] if node.level else []
            target = [*base, *(node.module.split(".") if node.module else [])]
            private = [alias.name for alias in node.names if alias.name.startswith("_")]
            private += [name for name in target[2:] if name.startswith("_")]  # a private module of a subpackage
            if private and _subpackage(target) not in ("", _subpackage(parts)):
                offenders.append(f"{source.relative_to(ROOT)}: {'.'.join(target)} {private}")
    assert offenders == []


# The floors of the house, bottom first: a unit (a subpackage, or a module at the root) imports from its own floor
# or the floors below, never from above. The deep package stands above them all.
FLOORS = (
    {"errors", "defaults", "bands", "_lazy", "_moved", "_signals", "_locks", "_writes", "_guards", "_backend", "_dask"},
    {"io", "metrics"},
    {"models"},
    {"mapping"},
    {"assessment"},
    {"monitoring", "plotting", "tables"},
    {"workflows", "tour", "cli", "__init__"},
)
MAX_LINES = 450


def _unit_imports():
    """``{unit: {units it imports}}`` over every import statement of the classic package, functions' included."""
    edges = {}
    for source in sorted(ROOT.rglob("*.py")):
        parts = ["smallmines_classic", *source.relative_to(ROOT).with_suffix("").parts]
        package = parts[:-1]
        unit = parts[1] if len(parts) > 2 or parts[1] != "__init__" else "__init__"
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1]
                targets = [[*base, *node.module.split(".")]] if node.module else [[*base, a.name] for a in node.names]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                targets = [name.split(".") for name in names if name.startswith("smallmines_classic.")]
            else:
                continue
            edges.setdefault(unit, set()).update(t[1] for t in targets if len(t) > 1 and t[1] != unit)
    return edges


def test_every_unit_stands_on_a_floor_and_no_import_runs_back_up():
    floor = {unit: level for level, units in enumerate(FLOORS) for unit in units}
    edges = _unit_imports()
    assert set(edges) <= set(floor), f"units on no floor: {set(edges) - set(floor)}"
    upward = sorted(f"{unit} (floor {floor[unit]}) imports {other} (floor {floor[other]})"
                    for unit, others in edges.items() for other in others if floor[other] > floor[unit])
    assert upward == []


def test_no_circle_between_units():
    edges = _unit_imports()
    done, path = set(), []

    def visit(unit):
        if unit in path:
            raise AssertionError(f"import circle: {' -> '.join(path[path.index(unit):] + [unit])}")
        if unit not in done:
            path.append(unit)
            for other in sorted(edges.get(unit, ())):
                visit(other)
            path.pop()
            done.add(unit)

    for unit in sorted(edges):
        visit(unit)


def test_no_module_is_over_450_lines():
    packages = (ROOT, ROOT.parent / "smallmines_deep")
    long = {str(source.relative_to(ROOT.parent)): n for package in packages for source in sorted(package.rglob("*.py"))
            if (n := len(source.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_ci_lints_the_tree_with_the_configured_ruff():
    # The rules and the line length live in pyproject.toml; CI runs them on every file and the dev extra brings ruff.
    assert ".venv/bin/ruff check .\n" in (ROOT.parent / ".ci" / "run").read_text()
    pyproject = (ROOT.parent / "pyproject.toml").read_text()
    assert '"ruff>=' in pyproject and "line-length = 120" in pyproject
