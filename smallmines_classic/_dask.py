"""The one Dask runner: tasks on a cluster, a bounded number in flight, results as they complete.

Imports nothing heavy: ``dask.distributed`` (the ``scale`` extra) is
imported only when a cluster is used.
"""

import itertools

from ._backend import require

__all__ = ["TASKS_PER_THREAD", "in_flight_bound", "run_bounded"]

#: Tasks in flight per worker thread: one running, one waiting, so no thread idles between two.
TASKS_PER_THREAD = 2


def in_flight_bound(client):
    """The most tasks :func:`run_bounded` keeps in flight on ``client``'s cluster: two per worker thread, at least 2."""
    return max(TASKS_PER_THREAD, TASKS_PER_THREAD * sum(client.nthreads().values()))


def run_bounded(client, task, shared, arguments):
    """Yield ``task(shared, argument)`` for every argument, run on ``client``'s cluster, as the tasks complete.

    ``shared`` (a model, the items of a composite) is sent once to every
    worker. At most :func:`in_flight_bound` tasks are submitted and not yet
    yielded, so neither the workers nor this process hold more than a few
    results, whatever the number of arguments; the next task is submitted
    as each result is taken. Use it in ``contextlib.closing``: closing the
    generator (or an error in it) cancels the tasks still pending.

    Parameters
    ----------
    client : dask.distributed.Client
    task : callable
        A module-level function (workers import it), called as ``task(shared, argument)``.
    shared : object
    arguments : iterable

    Yields
    ------
    object
        The tasks' results, in the order they complete.
    """
    distributed = require("dask.distributed", "maps")
    [on_workers] = client.scatter([shared], broadcast=True, hash=False)
    waiting, pending = iter(arguments), set()
    finished = distributed.as_completed(with_results=True)

    def submit(count):
        for argument in itertools.islice(waiting, count):
            future = client.submit(task, on_workers, argument, pure=False)
            pending.add(future)
            finished.add(future)

    try:
        submit(in_flight_bound(client))
        for future, result in finished:
            pending.discard(future)
            yield result
            submit(1)
    finally:
        client.cancel([*pending, on_workers])
