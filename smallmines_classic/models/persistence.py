"""Model files that run no code when opened: forests as skops, deep models as safetensors + JSON.

File formats 2 and 3. A model file is one of

- a **skops** zip (forests): read with an explicit list of trusted types
  (scikit-learn's forest and tree classes and ``RandomForestSegmenter``),
  plus a ``smallmines.json`` member holding the record;
- a **safetensors** file (deep models): the network's weights, with the
  record, the ``__init__`` arguments and the fitted attributes as JSON in its
  metadata, written and rebuilt by the model-file format registered under
  that kind in the ``smallmines.model_files`` entry-point group
  (:mod:`smallmines_deep.persistence`, loaded only for such a file);
- a **compact forest** file (format 3): safetensors too, the packed trees
  of a forest for inference, written and read by :mod:`.compact`.

This package never imports the deep one: a registered format is a module
with ``write_model(path, model, record)``, ``read_model(path, record)`` and
``MODEL_CLASSES`` (class name -> class, the classes it writes), found by
kind as ``smallmines reproduce`` finds the deep models.

The kind is told from the first bytes, never from the file name. The record
(format, versions, class, bands) is read and checked before anything else
is. Pickle and joblib files (format 1) are refused unread, because
unpickling runs whatever code the file names; :func:`convert_legacy_model`
converts one the user trusts.

The file format has its own version, :data:`FORMAT_VERSION`, apart from the
package's (as skops' and safetensors' formats have): it changes only when
what a file holds changes, and a reader reads every format it knows, from
any release that wrote it, and refuses a newer one with a message to
upgrade. The record also keeps the writing release and library versions,
for information; scikit-learn itself warns (``InconsistentVersionWarning``)
when a forest comes from another scikit-learn version.
"""

import json
import zipfile
import zlib
from importlib.metadata import entry_points
from pathlib import Path

from .._backend import install_hint
from .._guards import check_output_not_input
from .._writes import atomic_path
from ..errors import ModelFileError, ModelFileNotFoundError
from ._plain_data import from_json_data, to_json_data  # noqa: F401 (the deep package's model files use them)

__all__ = ["ModelFileError", "save_model", "load_model", "convert_legacy_model", "package_version"]

FORMAT = "smallmines-model"
#: The newest model file format this release writes: 3, the compact forest file (after smallmines 0.3.0). Format 1,
#: pickles, is refused unread.
FORMAT_VERSION = 3
#: The format of skops and deep model files, which hold what they held in format 2 (smallmines 0.2 and 0.3 read them).
FULL_FORMAT_VERSION = 2
#: The formats this release reads, from whichever release wrote them.
READABLE_FORMAT_VERSIONS = (2, 3)

#: The zip member of a skops model file that holds the record.
RECORD_MEMBER = "smallmines.json"
#: The safetensors metadata key that holds the record (and the deep model's description).
RECORD_KEY = "smallmines"

#: The entry-point group of the model-file formats other packages provide, by kind (``"safetensors"``).
FORMATS_GROUP = "smallmines.model_files"

#: The model class written as a skops file.
FOREST_CLASS = "smallmines_classic.models.forest.RandomForestSegmenter"
#: Its path in files written by smallmines 0.2.0 (imported through :mod:`smallmines_classic._moved`).
FOREST_CLASS_0_2_0 = "smallmines_classic.forest.RandomForestSegmenter"
#: The model class written as a compact forest file (safetensors, format 3; see :mod:`.compact`).
COMPACT_CLASS = "smallmines_classic.models.compact.CompactForest"
#: Everything a forest file may hold beyond skops' own safe defaults (containers, numpy arrays).
TRUSTED_FOREST_TYPES = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    FOREST_CLASS,
    FOREST_CLASS_0_2_0,
)

# First bytes of pickle (protocol 2+) and of the compressed streams joblib writes (zlib, gzip, bz2, xz, lzma).
_PICKLE_MAGIC = (b"\x80", b"x\x01", b"x\x5e", b"x\x9c", b"x\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00")
_MAX_HEADER_BYTES = 100 * 2**20
# What zipfile and json raise for a damaged, truncated or foreign archive.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError)


def package_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smallmines")
    except PackageNotFoundError:
        return "0+unknown"


def installed_versions(*distributions):
    """``{name: version}`` of the ``distributions`` (pip names) that are installed; the others are left out."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in distributions:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# -- telling files apart ----------------------------------------------------

def _existing_file(path):
    path = Path(path)
    if not path.exists():
        raise ModelFileNotFoundError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a regular file, so not a model file")
    return path


def _kind(path):
    """``"skops"``, ``"safetensors"``, ``"pickle"`` (or joblib) or None, from the first bytes of ``path``."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        raise ModelFileError(f"{path} holds {len(head)} bytes: too few for a model file (empty or truncated)")
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    # Before the pickle test: a safetensors header length may start with byte 0x80 too.
    if head[8:9] == b"{":
        return "safetensors"
    if head.startswith(_PICKLE_MAGIC):
        return "pickle"
    return None


def _legacy_refusal(path):
    return ModelFileError(
        f"{path} is a pickle or joblib file (a smallmines model file of format 1, or no model file at all). "
        f"Opening it could run any code it holds, so it is not opened; this smallmines reads formats "
        f"{' and '.join(map(str, READABLE_FORMAT_VERSIONS))} (skops or safetensors). If you trust where it came "
        f"from, convert it with: "
        f"smallmines convert-model {path} -o NEW.skops --trust (NEW.safetensors for a deep model)"
    )


def _skops_record(path):
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((info for info in archive.infolist() if info.filename == RECORD_MEMBER), None)
            raw = archive.read(member) if member is not None and member.file_size <= _MAX_HEADER_BYTES else None
        record = None if raw is None else json.loads(raw)
    except _ZIP_ERRORS as error:
        raise ModelFileError(f"{path} is a damaged or truncated model file ({type(error).__name__}: "
                             f"{error})") from error
    if record is None:
        raise ModelFileError(f"{path} is a zip archive but not a smallmines model file (no {RECORD_MEMBER})")
    return record


def _safetensors_header(path):
    """The JSON header of a safetensors file, after checking that the file holds every byte it announces."""
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if length > min(size - 8, _MAX_HEADER_BYTES):
            raise ModelFileError(f"{path} is truncated or damaged: its header announces {length} bytes, the file "
                                 f"has {size}")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
        data_bytes = max(ends, default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise ModelFileError(f"{path} has a damaged safetensors header ({type(error).__name__}: {error})") from error
    if not isinstance(data_bytes, int) or 8 + length + data_bytes != size:
        raise ModelFileError(f"{path} is truncated or damaged: it should hold {8 + length + data_bytes} bytes, it "
                             f"has {size}")
    return header


def _header_record(path, header):
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or RECORD_KEY not in metadata:
        raise ModelFileError(f"{path} is a safetensors file but not a smallmines model file (no {RECORD_KEY!r} "
                             f"metadata)")
    try:
        return json.loads(metadata[RECORD_KEY])
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path} has a damaged smallmines header ({error})") from error


def _check_record(path, record, expected_class):
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a smallmines model file")
    written_by, version = record.get("package_version"), record.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by smallmines {written_by} in model file format {version}; this is smallmines "
            f"{package_version()}, which reads formats up to {FORMAT_VERSION}: upgrade smallmines "
            f"(pip install --upgrade smallmines)"
        )
    if version not in READABLE_FORMAT_VERSIONS:
        raise ModelFileError(f"{path} has a damaged record: model file format {version!r}, not one of "
                             f"{list(READABLE_FORMAT_VERSIONS)}")
    if not isinstance(record.get("class"), str):
        raise ModelFileError(f"{path} has a damaged record: no model class")
    if expected_class is not None and record["class"] != expected_class:
        raise ModelFileError(f"{path} holds a {record['class']}, not a {expected_class}")


def _registered_formats():
    """The model-file formats other packages register, by kind; each module is imported only when asked for."""
    return {point.name: point for point in entry_points(group=FORMATS_GROUP)}


def _format(kind):
    """The registered module that reads and writes model files of ``kind``."""
    point = _registered_formats().get(kind)
    try:
        if point is None:
            raise ImportError(f"no {FORMATS_GROUP!r} entry point named {kind!r}")
        return point.load()
    except ImportError as error:
        raise ModelFileError(f"this is a deep model file, which needs PyTorch to read or write ({error}); "
                             f"{install_hint('deep')}") from error


def _format_writing(model):
    """The registered module whose ``MODEL_CLASSES`` holds ``type(model)``, or None (asked for non-forests only)."""
    for kind in _registered_formats():
        try:
            writer = _format(kind)
        except ModelFileError:  # not installed: then it cannot have made the model either
            continue
        if writer.MODEL_CLASSES.get(type(model).__name__) is type(model):
            return writer
    return None


# -- forests: skops ---------------------------------------------------------

def _write_forest(path, model, record):
    import skops.io

    skops.io.dump(model._portable(), path)
    untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_FOREST_TYPES))
    if untrusted:  # refused now rather than by the reader
        raise TypeError(f"{type(model).__name__} holds {untrusted}; a model file holds the forest and plain data only")
    record = {**record, "versions": installed_versions("scikit-learn", "skops", "numpy")}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(RECORD_MEMBER, json.dumps(record))


def _read_forest(path, record):
    import skops.io

    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_FOREST_TYPES))
    except Exception as error:  # skops raises many kinds for a damaged schema
        raise ModelFileError(f"{path} is a damaged model file ({type(error).__name__}: {error})") from error
    if untrusted:
        raise ModelFileError(f"{path} holds types smallmines does not trust: {untrusted}; it was not opened")
    try:
        model = skops.io.load(path, trusted=list(TRUSTED_FOREST_TYPES))
    except Exception as error:  # skops and zipfile raise many kinds for a damaged file
        raise ModelFileError(f"{path} is a damaged model file ({type(error).__name__}: {error})") from error
    if type(model).__name__ != record["class"]:
        raise ModelFileError(f"{path} says it holds a {record['class']} but holds a {type(model).__name__}")
    return model


def _forest_class_name(model):
    return f"{type(model).__module__}.{type(model).__qualname__}"


# -- the door ----------------------------------------------------------------

def save_model(path, model):
    """Write a fitted model to ``path`` atomically, with its band names, class and versions.

    A ``RandomForestSegmenter`` becomes a skops file (``.skops`` is the
    natural suffix), a deep segmenter a safetensors file with a JSON header
    (``.safetensors``), a ``CompactForest`` a compact forest file
    (safetensors too, format 3); the suffix is not what decides.

    Raises
    ------
    TypeError
        For a model class smallmines does not write, or a fitted attribute
        that is not plain data.
    """
    version = FULL_FORMAT_VERSION
    if _forest_class_name(model) == FOREST_CLASS:
        writer = _write_forest
    elif _forest_class_name(model) == COMPACT_CLASS:
        from .compact import write_compact

        writer, version = write_compact, FORMAT_VERSION
    else:
        registered = _format_writing(model)
        if registered is None:
            raise TypeError(f"smallmines writes RandomForestSegmenter and the smallmines_deep segmenters, "
                            f"not {_forest_class_name(model)}")
        writer = registered.write_model
    record = {"format": FORMAT, "format_version": version, "package_version": package_version(),
              "class": type(model).__name__, "band_names": list(model.band_names_)}
    with atomic_path(path) as tmp:
        writer(tmp, model, record)
    return Path(path)


def load_model(path, expected_class=None):
    """Read a model written by :func:`save_model`, checking its format version and, if given, its class name.

    No code from the file runs: the record is read as JSON first, a forest
    is rebuilt by skops from trusted types only, a compact forest from its
    arrays (checked node by node), a deep model from its parameters and
    safetensors weights. The kind is told from the file's contents.

    Raises
    ------
    ModelFileNotFoundError
        If ``path`` does not exist (a ModelFileError and a FileNotFoundError).
    ModelFileError
        If the file is no smallmines model file (a pickle or joblib file
        among them: format 1, see :func:`convert_legacy_model`), is damaged
        or truncated, holds untrusted types or another model class, or is
        of a newer file format than this release reads (upgrade smallmines).
    """
    path = _existing_file(path)
    kind = _kind(path)
    if kind == "pickle":
        raise _legacy_refusal(path)
    if kind is None:
        raise ModelFileError(f"{path} is not a smallmines model file (neither a skops nor a safetensors file)")
    if kind == "skops":
        record = _skops_record(path)
        _check_record(path, record, expected_class)
        return _read_forest(path, record)
    header = _safetensors_header(path)
    record = _header_record(path, header)
    _check_record(path, record, expected_class)
    if record["class"] == COMPACT_CLASS.rpartition(".")[2]:
        from .compact import read_compact

        return read_compact(path, header, record)
    return _format(kind).read_model(path, record)


def convert_legacy_model(old, new, *, trust=False):
    """Convert a format-1 (pickle / joblib) model file ``old`` to a format-2 file ``new``.

    Reading ``old`` unpickles it, which runs any code it holds: pass
    ``trust=True`` only for a file whose origin you trust. Without it, this
    refuses and says so.

    Returns
    -------
    Path
        ``new``.
    """
    old, new = _existing_file(old), Path(new)
    if _kind(old) != "pickle":
        raise ModelFileError(f"{old} is not a pickle or joblib model file; only those (format 1) need converting")
    if not trust:
        raise ModelFileError(
            f"{old} is a pickle or joblib file: reading it runs any code it holds. Convert it only if you trust "
            f"where it came from, by adding --trust (trust=True); nothing was read"
        )
    check_output_not_input(new, old)
    import joblib

    try:
        content = joblib.load(old)
    except Exception as error:  # joblib / pickle raise many kinds for a foreign or damaged file
        raise ModelFileError(f"{old} is not a readable pickle or joblib file ({type(error).__name__}: "
                             f"{error})") from error
    model = content.get("model") if isinstance(content, dict) and content.get("format") == FORMAT else content
    if not hasattr(model, "band_names_"):
        raise ModelFileError(f"{old} holds a {type(model).__name__}, not a fitted smallmines model")
    return save_model(new, model)
