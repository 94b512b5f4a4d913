"""``import smallmines_classic`` loads no heavy library; each public name loads its module on first use."""

import importlib
import json
import subprocess
import sys

import pytest

import smallmines_classic

PACKAGES = ["smallmines_classic", *(f"smallmines_classic.{name}" for name in
                                    ("io", "models", "mapping", "assessment", "monitoring"))]
HEAVY = ("numpy", "sklearn", "rasterio", "scipy", "numba", "pyproj", "shapely", "pandas", "torch", "cupy", "cuml")


def _fresh(code):
    """What ``code``, run in a fresh interpreter, prints as JSON."""
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_importing_the_packages_loads_no_heavy_library():
    loaded = _fresh(f"import json, sys\nimport {', '.join(PACKAGES)}\n"
                    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    assert loaded == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_is_listed(package):
    module = importlib.import_module(package)
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        assert not isinstance(value, type(module)), f"{package}.{name} is a module"
        assert getattr(module, name) is value
        assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        module.nothing_here


def test_a_name_is_the_object_of_its_module_and_of_the_top_package():
    from smallmines_classic.models import forest

    assert smallmines_classic.RandomForestSegmenter is forest.RandomForestSegmenter
    assert smallmines_classic.models.RandomForestSegmenter is forest.RandomForestSegmenter
    assert smallmines_classic.DatasetError is smallmines_classic.errors.DatasetError
    assert smallmines_classic.DatasetError is smallmines_classic.io.DatasetError


def test_a_name_shared_with_its_module_stays_the_function_whichever_is_imported_first():
    # monitoring.monitor is the function in monitoring/monitor.py; importing the module must not replace it.
    module_first = _fresh("import importlib, json, smallmines_classic.monitoring as m\n"
                          "module = importlib.import_module('smallmines_classic.monitoring.monitor')\n"
                          "from smallmines_classic.monitoring import monitor\n"
                          "print(json.dumps([callable(monitor) and monitor is module.monitor, m.monitor is monitor]))")
    assert module_first == [True, True]


def test_names_load_only_what_they_need():
    loaded = _fresh("import json, sys\nfrom smallmines_classic import BAND_NAMES, SmallminesError, DatasetError\n"
                    "from smallmines_classic.monitoring import MonitorFolderError\n"
                    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    assert loaded == []
