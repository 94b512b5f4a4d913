"""Locks (:mod:`smallmines_classic._locks`): a second process is kept off, and every lock ends with its holder."""

import subprocess
import sys
import textwrap
import threading

import pytest

from smallmines_classic._locks import exclusive_lock
from smallmines_classic.errors import SessionLockedError
from tests.helpers import ENV, write_pair


def test_a_commit_waits_for_the_folder_lock(tmp_path):
    """Two writers commit one after the other: while another process holds the lock, the pair is not touched."""
    write_pair(tmp_path, "old")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from smallmines_classic._locks import commit_lock
        with commit_lock({str(tmp_path)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    writer = threading.Thread(target=write_pair, args=(tmp_path, "new"))
    writer.start()
    writer.join(timeout=1.0)
    assert writer.is_alive()
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["old", "old"]
    holder.communicate("\n", timeout=30)
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert [(tmp_path / n).read_text() for n in ("scene.tif", "scene_obs.tif")] == ["new", "new"]


def test_an_exclusive_lock_keeps_others_off_and_ends_with_its_holder(tmp_path):
    """Refused at once to another process and to a second open in this one; free again once its holder is killed."""
    lock, busy = tmp_path / "run.lock", SessionLockedError("another session holds run.lock")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from smallmines_classic._locks import exclusive_lock
        with exclusive_lock({str(lock)!r}, RuntimeError("busy")):
            print("locked", flush=True)
            sys.stdin.readline()
    """)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(SessionLockedError, match="another session holds run.lock"), exclusive_lock(lock, busy):
            pytest.fail("the body must not run")
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    with exclusive_lock(lock, busy):  # the kernel released the killed holder's lock
        with pytest.raises(SessionLockedError), exclusive_lock(lock, busy):
            pytest.fail("the body must not run")
    with exclusive_lock(lock, busy):  # and this process's, when its block ended
        pass
    assert lock.is_file()  # the lock file stays, so that no two processes ever lock two different files

