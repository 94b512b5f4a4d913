"""The public names of smallmines and where each is defined, for the API reference's table and tests/test_docs.py.

A name of ``smallmines_classic`` or of one of its subpackages is looked up in the package's table of lazy names
(``_lazy.attach``) down to the module that gives it, then followed by griffe, the library mkdocstrings reads the
code with, to the object it re-exports: the path the API reference documents it under.
"""

import importlib
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[1]
CLASSIC_PACKAGES = ("smallmines_classic", "smallmines_classic.io", "smallmines_classic.models",
                    "smallmines_classic.mapping", "smallmines_classic.assessment", "smallmines_classic.monitoring")


def load(package):
    """The griffe tree of ``package`` (``smallmines_classic`` or ``smallmines_deep``), read from the checkout."""
    return griffe.load(package, search_paths=[str(ROOT)], docstring_parser="numpy")


def _module_of(package, name):
    """The module whose attribute ``name`` is: followed through the lazy tables of the packages on the way."""
    table = getattr(importlib.import_module(package), "_lazy_names", {})
    return _module_of(f"{package}.{table[name]}", name) if name in table else package


def public_names():
    """``{name: (packages that export it, griffe object it is defined as)}`` for both packages.

    ``smallmines_deep`` is read statically (its ``__all__``), so this works without torch.
    """
    trees = {package: load(package) for package in ("smallmines_classic", "smallmines_deep")}
    names = {}
    for package in CLASSIC_PACKAGES:
        for name in importlib.import_module(package).__all__:
            path = f"{_module_of(package, name)}.{name}"
            names.setdefault(name, ([], _target(trees, path)))[0].append(package)
    deep = trees["smallmines_deep"]
    for name in deep.exports:
        names.setdefault(name, ([], _target(trees, f"smallmines_deep.{name}")))[0].append("smallmines_deep")
    return names


def _target(trees, path):
    package, _, rest = path.partition(".")
    obj = trees[package][rest]
    return obj.final_target if obj.is_alias else obj
