"""Quicklook figures like the paper's Fig. 5: RGB, reference mask and predictions side by side."""

import numpy as np

from ._writes import atomic_path
from .bands import band_indices

__all__ = ["plot_predictions", "rgb_composite"]


def rgb_composite(image, band_names, low=2, high=98):
    """A displayable (H, W, 3) array in [0, 1] from a (C, H, W) image, stretched between percentiles."""
    rgb = image[band_indices("rgb", band_names)].astype(np.float32)
    lo, hi = np.percentile(rgb, [low, high])
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0)


def plot_predictions(path, images, masks, predictions, band_names, titles=None):
    """Write a PNG with one row per patch: RGB, reference mask, then each model's prediction.

    Parameters
    ----------
    path : str or Path
    images : ndarray of shape (n, C, H, W)
    masks : ndarray of shape (n, H, W)
    predictions : dict
        Model name -> ndarray of shape (n, H, W).
    band_names : sequence of str
        Names of the C bands.
    titles : sequence of str, optional
        One label per row (e.g. tile id and year).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["RGB", "reference", *predictions]
    fig, axes = plt.subplots(len(images), len(columns), figsize=(2.2 * len(columns), 2.2 * len(images)), squeeze=False)
    for row, image in enumerate(images):
        panels = [rgb_composite(image, band_names), masks[row], *(p[row] for p in predictions.values())]
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, cmap=None if panel.ndim == 3 else "magma", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=9)
        if titles is not None:
            axes[row, 0].set_ylabel(titles[row], fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
