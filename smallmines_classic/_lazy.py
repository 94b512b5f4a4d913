"""Public names that load on first use (PEP 562), so that ``import smallmines_classic`` stays quick.

Each package's ``__init__`` gives one table, ``{module: [names]}`` (a module relative to the package), and gets
back its ``__getattr__``, ``__dir__`` and ``__all__``::

    __getattr__, __dir__, __all__ = attach(__name__, {"forest": ["PAPER_PRESETS", "RandomForestSegmenter"]})

A name is imported from its module the first time it is asked for (``package.name``, ``from package import
name``), then kept in the package like any other attribute. Only the standard library is imported here.
"""

import importlib
import sys
import types

__all__ = ["attach"]


class _LazyPackage(types.ModuleType):
    """A package whose public names load on first use."""

    def __setattr__(self, name, value):
        # The import system binds each submodule it loads to the package attribute of the same name. Where a public
        # name is also its module's name (monitoring.monitor, the function in monitor.py), the name keeps the object
        # the table promises, as an eager ``from .monitor import monitor`` would have left it.
        if isinstance(value, types.ModuleType) and self.__dict__.get("_lazy_names", {}).get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


def attach(package, table, submodules=()):
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of ``package`` that load the names of ``table`` on use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    table : dict of str to list of str
        Module, relative to the package (``"forest"``, ``"io.composite"``, ``"io"``), to the public names it gives.
    submodules : sequence of str, optional
        Submodules that are attributes of the package too (``smallmines_classic.io``), imported on first use; they
        are listed by ``dir()`` but not in ``__all__``.

    Returns
    -------
    __getattr__, __dir__, __all__
    """
    where = {name: module for module, names in table.items() for name in names}
    public = list(where)
    module = sys.modules[package]
    module._lazy_names = where
    module.__class__ = _LazyPackage

    def __getattr__(name):
        if name in where:
            value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)  # asked once: later uses find it without this function
        return value

    def __dir__():
        return sorted({*module.__dict__, *public, *submodules})

    return __getattr__, __dir__, public
