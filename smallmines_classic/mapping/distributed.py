"""Scene mapping on a Dask cluster: the same windows and writer as :func:`predict_scene`.

The scene is cut into overlapping blocks; each block is one task that opens
the source on its worker, reads its padded window and predicts it, so a
worker holds one block at a time, whatever the scene size. The client blends
the finished blocks into the map as they arrive, in any order. Needs the ``scale`` extra
(``pip install 'smallmines[maps]'``).

On a multi-machine cluster, the scene must be readable at the same path (or
URL, e.g. ``/vsis3/...``) from every worker, and the output is written where
the client runs::

    from dask.distributed import Client
    # workers started with `dask worker tcp://scheduler:8786 --memory-limit 4GiB`
    client = Client("tcp://scheduler:8786")
    predict_scene_dask(model, "/shared/ghana_2022.vrt", "ghana_2022_map.tif", client)
"""

import contextlib

import rasterio

from .._backend import require
from .._dask import run_bounded
from ..io.raster import bounded_gdal_cache, scene_windows
from .scene import guard_scene, map_window, model_band_indexes, write_map

__all__ = ["predict_scene_dask"]


def _map_block(sources, window):
    """The map of one padded window, on a worker: ``(window, *map_window(...))``."""
    model, path, indexes = sources
    with bounded_gdal_cache(), rasterio.open(path) as source:
        return (window, *map_window(model, source, indexes, window))


def predict_scene_dask(model, src, dst, client=None, *, band_names=None, block_size=2048, overlap=64, probability=False,
                       progress=True, strict=False):
    """Map a scene with a fitted model on a Dask cluster (see module docstring).

    Parameters
    ----------
    model : fitted segmenter
        Sent once to every worker.
    src, dst : str or Path
        As :func:`smallmines_classic.predict_scene`; ``src`` must be readable by the workers.
    client : dask.distributed.Client or None
        The cluster to use; None takes the current client.
    block_size : int
        Side of the square core blocks, one task each; a worker's memory is
        bounded by one padded block, its features and the model. At most two
        tasks per worker thread are in flight (:func:`smallmines_classic._dask.run_bounded`),
        so this process holds a few finished blocks at a time, whatever the scene.
    band_names, overlap, probability, progress, strict
        As :func:`smallmines_classic.predict_scene`.

    Returns
    -------
    Path
        ``dst``: the same map as :func:`predict_scene` with the same windows, up
        to rounding: the blending sums are added in the order blocks arrive,
        which can move a probability by a rounding error (one step of the
        percent band at most).
    """
    dask_distributed = require("dask.distributed", "maps")
    client = client or dask_distributed.default_client()
    with bounded_gdal_cache(), rasterio.open(src) as source:
        indexes = model_band_indexes(model, source, band_names)
        guard_scene(model, source, indexes, strict)
        windows = [padded for _, padded in scene_windows(source.height, source.width, block_size, overlap)]
        with contextlib.closing(run_bounded(client, _map_block, (model, str(src), indexes), windows)) as blocks:
            return write_map(source, dst, blocks, len(windows), threshold=model.threshold, overlap=overlap,
                             probability=probability, progress=progress)
