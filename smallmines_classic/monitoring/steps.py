"""Resumable steps, verified by content: a step is skipped only when its record says it is already done.

Each step of a monitoring run (a composite, a map, the areas of a year, ...)
leaves a small JSON record in ``DIR/steps/`` once its outputs are in place:
the identity of its inputs (model and regions by content, items by id, href
and for local files size and modification time, settings, versions), the
sha256 of each output and the step's result (the areas it measured, ...).
A later run skips the step only when the inputs it would use now equal the
recorded ones **and** every output still hashes to its recorded sha256; a
missing, truncated, edited or foreign output, or an output without a record
(a run killed between writing it and writing the record), is made again, and
the line says why.

Outputs are written through the atomic helpers of :mod:`smallmines_classic._writes`
(a temporary file renamed when complete) and the record after them, so a
kill at any moment leaves no half-written file, and at worst a finished
output without its record, which the next run redoes.
"""

import contextlib
import hashlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from .._writes import atomic_path
from ..models.persistence import package_version

__all__ = ["STEPS_FOLDER", "StepRunner", "sha256", "href_identity", "content_identity"]

STEPS_FOLDER = "steps"
_RECORD_FORMAT = "smallmines-monitor-step"
_CHUNK = 2**22


def sha256(path):
    """sha256 of a file's bytes, read in chunks (hex digest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def content_identity(*parts):
    """sha256 of ``parts`` (bytes or JSON-able values) taken together: the identity of inputs read, not of files."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def href_identity(href):
    """What identifies an asset: a local file by path, size and modification time; a URL without its query.

    Signed URLs (the Planetary Computer's) carry a token that changes at
    every signing, so the query string is left out.
    """
    parsed = urlparse(href)
    if parsed.scheme in ("", "file") or href.startswith("/"):
        path = Path(parsed.path if parsed.scheme == "file" else href)
        try:
            stat = path.stat()
        except OSError:
            return {"href": str(path), "missing": True}
        return {"href": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"href": urlunparse(parsed._replace(query="", fragment=""))}


def _jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists), so recorded and current inputs compare equal."""
    return json.loads(json.dumps(value))


class StepRunner:
    """Runs the steps of one output folder, skipping those already done (see module docstring).

    Parameters
    ----------
    root : Path
        The output folder; records go to ``root / "steps"``, outputs are
        named relative to ``root``.
    log : callable or None
        Receives one line per step: skipped, done or redone, with the time
        and, for a redo, the reason.
    before_work : callable
        Called once, before the first step that is not skipped (to take the
        run's summary away while its files change).
    """

    def __init__(self, root, log, before_work):
        self.root, self.log, self.before_work = Path(root), log, before_work
        self.records = []   # (step, status, seconds, reason) for every step of this run
        self.hashes = {}    # output -> sha256, of every step run or skipped so far

    def _record_path(self, name):
        return self.root / STEPS_FOLDER / (name.replace(" ", "_").replace("-", "_") + ".json")

    def _why_stale(self, name, inputs, outputs):
        """Why the step must run (a sentence), or None when its record and outputs show it done with these inputs."""
        path = self._record_path(name)
        if not path.exists():
            present = [out for out in outputs if (self.root / out).exists()]
            return f"{present[0]} has no record of a finished step (interrupted, or made elsewhere)" if present else ""
        try:
            record = json.loads(path.read_text())
            recorded_inputs, recorded_outputs = record["inputs"], record["outputs"]
        except (OSError, ValueError, KeyError, TypeError):
            return f"its record {path.relative_to(self.root)} is unreadable"
        changed = sorted(key for key in {*recorded_inputs, *inputs} if recorded_inputs.get(key) != inputs.get(key))
        if changed:
            return f"its inputs changed ({', '.join(changed)})"
        if sorted(recorded_outputs) != sorted(outputs):
            return "it records other outputs"
        for out in outputs:
            target = self.root / out
            if not target.is_file():
                return f"{out} is missing"
            expected = recorded_outputs[out]
            if target.stat().st_size != expected.get("bytes") or sha256(target) != expected.get("sha256"):
                return f"{out} does not match its record (edited, truncated or replaced)"
        return None

    def run(self, name, inputs, outputs, work):
        """Run ``work()`` unless the step is done already; return its result (recorded, or new).

        Parameters
        ----------
        name : str
            The step, e.g. ``"composite 2016"``.
        inputs : dict
            JSON-able identity of everything the step reads.
        outputs : sequence of str
            Files the step writes, relative to the root.
        work : callable
            Writes the outputs (each atomically) and returns the step's
            JSON-able result.
        """
        started = time.monotonic()
        inputs = _jsonable(inputs)
        reason = self._why_stale(name, inputs, outputs)
        if reason is None:
            record = json.loads(self._record_path(name).read_text())
            self.hashes.update({out: record["outputs"][out]["sha256"] for out in outputs})
            return self._done(name, "skipped", started, None, record["result"])
        self.before_work()
        record_path = self._record_path(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record_path)   # the outputs are about to change: the old record no longer speaks for them
        result = _jsonable(work())
        hashes = {out: {"sha256": sha256(self.root / out), "bytes": (self.root / out).stat().st_size}
                  for out in outputs}
        self.hashes.update({out: value["sha256"] for out, value in hashes.items()})
        record = {"format": _RECORD_FORMAT, "step": name, "smallmines_version": package_version(),
                  "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "seconds": round(time.monotonic() - started, 3), "inputs": inputs, "outputs": hashes,
                  "result": result}
        with atomic_path(record_path) as tmp:
            tmp.write_text(json.dumps(record, indent=1) + "\n")
        return self._done(name, "redone" if reason else "done", started, reason, result)

    def _done(self, name, status, started, reason, result):
        seconds = time.monotonic() - started
        self.records.append({"step": name, "status": status, "seconds": round(seconds, 3), "reason": reason or None})
        if self.log is not None:
            if status == "skipped":
                self.log(f"{name}: skipped, unchanged (checked in {seconds:.1f} s)")
            else:
                self.log(f"{name}: {status} in {seconds:.1f} s" + (f" ({reason})" if reason else ""))
        return result
