"""The module paths of smallmines 0.2.0, kept working for one more release.

``import smallmines_classic.forest`` (and ``from smallmines_classic.forest
import ...``, ``smallmines_classic.forest`` as an attribute) gives the module
that now lives at ``smallmines_classic.models.forest``, the same object, with
a ``DeprecationWarning`` naming the new path. Model files written by 0.2.0
name ``smallmines_classic.forest.RandomForestSegmenter`` and load through this.
"""

import importlib
import importlib.util
import sys
import warnings

__all__ = ["MOVED", "install", "moved_module"]

#: Old module name (under ``smallmines_classic``) -> its new dotted path under ``smallmines_classic``.
MOVED = {
    "_errors": "errors", "dataset": "io.dataset", "splits": "io.splits", "synthetic": "io.synthetic",
    "composite": "io.composite",
    "_domain": "models.domain", "base": "models.base", "features": "models.features", "forest": "models.forest",
    "persistence": "models.persistence", "sampling": "models.sampling",
    "analysis": "mapping.analysis", "distributed": "mapping.distributed", "scene": "mapping.scene",
    "report": "tables",
}

_PACKAGE = __name__.rpartition(".")[0]


def moved_module(name, stacklevel=2):
    """The module that ``smallmines_classic.<name>`` was, imported from its new place, with a DeprecationWarning."""
    new = f"{_PACKAGE}.{MOVED[name]}"
    warnings.warn(f"{_PACKAGE}.{name} moved to {new} (its public names are also in {_PACKAGE}); "
                  "the old path will stop working in the next release", DeprecationWarning, stacklevel=stacklevel + 1)
    return importlib.import_module(new)


class _OldPathFinder:
    """Finds an old path and loads it as the module at its new path (``sys.modules`` holds that module under both).

    A meta path finder and loader by its methods; not derived from ``importlib.abc``'s classes, whose import costs
    more than the rest of ``import smallmines_classic``.
    """

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        return importlib.util.spec_from_loader(fullname, self) if package == _PACKAGE and name in MOVED else None

    def create_module(self, spec):
        return None  # a placeholder module, replaced in sys.modules by exec_module

    def exec_module(self, module):
        # The import system returns what sys.modules holds after this, so the old name is the new module itself.
        sys.modules[module.__name__] = moved_module(module.__name__.rpartition(".")[2], stacklevel=2)


def install():
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _OldPathFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldPathFinder())
