"""A PyTorch Dataset over SmallMinesDS that reads through the classic data layer."""

import numpy as np
import torch
from torch.utils.data import Dataset

from smallmines_classic.bands import band_indices, resolve_bands
from smallmines_classic.errors import DatasetError
from smallmines_classic.io.dataset import TILE_SIZE, find_patches, read_patch

__all__ = ["SmallMinesDataset"]


class SmallMinesDataset(Dataset):
    """SmallMinesDS patches, one file pair per item, validated as by ``load_smallminesds``.

    Items are dicts in torchgeo's style: ``image`` (C, H, W) float32 tensor,
    ``mask`` (H, W) int64 tensor, ``tile_id``, ``year``. Usable with any
    DataLoader, torchgeo, TerraTorch or Lightning loop.

    Parameters
    ----------
    root : str or Path
    years, split, splits, nan_policy
        As :func:`smallmines_classic.load_smallminesds`.
    bands : str or sequence of str, default "all"
    transforms : callable or None
        Applied to each item dict.
    """

    def __init__(self, root, years=None, split=None, bands="all", *, splits=None, transforms=None, nan_policy="raise"):
        self.patches = find_patches(root, years, split, splits)
        self.band_names = resolve_bands(bands)
        self._indexes = band_indices(self.band_names)
        self.transforms = transforms
        self.nan_policy = nan_policy

    def __len__(self):
        return len(self.patches)

    def __getitem__(self, index):
        tile, year, image_path, mask_path = self.patches[index]
        image, mask, _, _ = read_patch(image_path, mask_path, self._indexes, TILE_SIZE, self.nan_policy)
        missing = np.count_nonzero(np.isnan(image))
        if missing:  # declared no-data: a network would spread NaN through the whole patch
            raise DatasetError(f"{image_path}: {missing} pixel(s) are declared no-data (NaN); a network cannot take "
                               "them: pass nan_policy='fill' to fill them with each band's median")
        sample = {"image": torch.from_numpy(image), "mask": torch.from_numpy(mask.astype(np.int64)), "tile_id": tile,
                  "year": year}
        return self.transforms(sample) if self.transforms else sample
