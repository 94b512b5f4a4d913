"""MkDocs hooks of the docs site (mkdocs.yml: ``hooks``).

- The examples on the pages run during the build (markdown-exec). They import the helpers beside this file
  (``api_names``), and write into ``tempfile.mkdtemp()`` folders, which all lie in one folder made for the build
  and removed after it: a build leaves nothing behind.
- The docstrings use Sphinx's roles (``:func:`build_composite```), which mkdocstrings does not read. In the
  rendered pages each becomes a cross-reference: a link to the object where the API reference documents it, or the
  name in code where it does not.
- The benchmarks page includes ``benchmarks/RESULTS.md`` (pymdownx.snippets); its pictures sit beside it, outside
  ``docs/``. They are added to the site at the paths the included text links to, so that the strict build finds
  them and the figures show.
"""

import functools
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

RESULTS_PICTURES = ("results_quick.png", "results_full.png")
# A role as Markdown renders it: :func:<code>name</code>; "~" shows the last part of the name only.
_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|exc|obj):\s*<code>(~?)([\w.]+)</code>")
_build_tmp = {}


def on_config(config):
    """Put ``docs/`` on the import path of the examples, and give them one temporary folder for the build."""
    if config["docs_dir"] not in sys.path:
        sys.path.insert(0, config["docs_dir"])
    if "folder" in _build_tmp:  # a rebuild of `mkdocs serve`: start afresh
        shutil.rmtree(_build_tmp["folder"], ignore_errors=True)
    else:
        _build_tmp["previous"] = tempfile.tempdir
    tempfile.tempdir = None
    tempfile.tempdir = _build_tmp["folder"] = tempfile.mkdtemp(prefix="smallmines-docs-")
    return config


def on_files(files, config):
    """Add the pictures of ``benchmarks/RESULTS.md`` to the site's files."""
    benchmarks = Path(config["docs_dir"]).parent / "benchmarks"
    for name in RESULTS_PICTURES:
        files.append(File.generated(config, name, abs_src_path=str(benchmarks / name)))
    return files


@functools.cache
def _documented_paths():
    """Public name -> the path the API reference documents it under (its definition)."""
    from api_names import public_names

    return {name: obj.path for name, (_, obj) in public_names().items()}


def _cross_reference(match):
    short, target = match.groups()
    name = target.rsplit(".", 1)[-1]
    identifier = _documented_paths().get(name, target)   # build_composite, sm.build_composite: where documented
    shown = name if short else target
    # "optional": autorefs links it when the identifier is documented, and leaves the code alone otherwise.
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'


def on_page_content(html, page, config, files):
    """Sphinx roles in the rendered docstrings -> cross-references (see the module docstring)."""
    return _ROLE.sub(_cross_reference, html)


def on_shutdown():
    """Remove what the examples wrote (after a build, failed or not)."""
    if "folder" in _build_tmp:
        tempfile.tempdir = _build_tmp.pop("previous")
        shutil.rmtree(_build_tmp.pop("folder"), ignore_errors=True)
