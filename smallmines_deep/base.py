"""The estimator face every deep segmenter shares: fit / predict / save / load and normalisation.

A model file is one new subclass that says how to build its network
(``_build_network``), which parameters train (``_trainable``), and, if it
needs them, how it runs in training and prediction (``_train_forward``,
``_forward``). Everything else (band checks, normalisation, the training
loop, batching, padding, persistence) lives here and in :mod:`.trainer`.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator

from smallmines_classic.bands import band_indices, resolve_bands
from smallmines_classic.errors import DownloadError, InputError, ModelFileNotFoundError
from smallmines_classic.models.base import SegmenterMixin, check_images, check_masks
from smallmines_classic.models.domain import band_statistics

from .trainer import TrainConfig, as_tensors, resolve_torch_device, snapshot, train

__all__ = ["DeepSegmenter", "weights_download_error", "check_weights_file"]


def check_weights_file(weights, keyword, what):
    """``weights`` is None, the download ``keyword`` ("imagenet", "hub") or a path that must exist."""
    if weights not in (None, keyword) and not Path(weights).is_file():
        raise ModelFileNotFoundError(f"{what} {weights} does not exist")


def weights_download_error(error, what, how_to_get, parameter):
    """The error for pretrained weights that could not be downloaded (offline, most often)."""
    return DownloadError(
        f"could not download {what} ({type(error).__name__}: {error}). Offline? On a machine that is online, "
        f"{how_to_get}; then copy the file here and pass {parameter}='/path/to/that/file'"
    )


class DeepSegmenter(SegmenterMixin, BaseEstimator):
    """Base class of the deep segmenters; not used directly.

    Fitted attributes: ``band_names_``, ``mean_`` and ``std_`` (per-band
    normalisation, in the order of ``band_names_``), ``band_stats_``
    (quantiles of the training pixels, checked by ``predict`` and scene
    mapping), ``network_``, ``history_`` (one record per epoch), ``device_``.
    """

    #: Input height and width must be multiples of this; prediction pads to it.
    size_multiple = 32

    def _store_params(self, arguments):
        """Keep every ``__init__`` argument verbatim as an attribute (scikit-learn's convention).

        Subclasses spell out their full signature, which ``get_params`` reads,
        and call ``self._store_params(locals())`` as their only statement.
        """
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # -- hooks for the model files ----------------------------------------
    def _build_network(self, n_bands, pretrained):
        raise NotImplementedError

    def _trainable(self, network):
        return network.parameters()

    def _forward(self, network, x):
        return network(x)

    def _train_forward(self, network, x, y):
        return self._forward(network, x)

    def _default_normalization(self, band_names):
        """Published statistics for these bands, or None to compute them from the training data."""
        return None

    # -- shared machinery --------------------------------------------------
    def _train_config(self):
        signature = {"class": type(self).__name__, "bands": list(resolve_bands(self.bands)),
                     "params": {k: repr(v) for k, v in sorted(self.get_params().items())
                                if k not in ("epochs", "device", "training_checkpoint", "verbose", "early_stopping")}}
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                           lr_step_epochs=self.lr_step_epochs, augment=self.augment, early_stopping=self.early_stopping,
                           device=self.device, compile=self.compile, checkpoint=self.training_checkpoint,
                           seed=self.random_state, progress=self.verbose, signature=signature)

    def _normalization(self, X):
        """Mean and std per band: given, published, or computed over the training images."""
        if self.normalization is not None:
            mean, std = (np.asarray(self.normalization[k], np.float32) for k in ("mean", "std"))
        elif (published := self._default_normalization(self.band_names_)) is not None:
            mean, std = (np.asarray(v, np.float32) for v in published)
        else:
            mean = X.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
            std = X.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
        if mean.shape != (len(self.band_names_),) or std.shape != mean.shape:
            raise InputError(f"normalization needs one mean and std per band {list(self.band_names_)}, "
                             f"got {mean.shape} / {std.shape}")
        return mean, np.maximum(std, 1e-6)

    def _normalise(self, X):
        return (X - self.mean_[None, :, None, None]) / self.std_[None, :, None, None]

    def fit(self, X, y, band_names=None, eval_set=None):
        """Train the network.

        Parameters
        ----------
        X : ndarray of shape (N, C, H, W)
        y : ndarray of shape (N, H, W), values {0, 1}
        band_names : sequence of str, optional
            Names of the C bands of X (and of the eval_set images); default:
            the 13 SmallMinesDS bands.
        eval_set : tuple (X_val, y_val), optional
            The epoch with the best mining IoU on it is kept.

        Returns
        -------
        self
        """
        X, names = check_images(X, band_names)
        y = check_masks(y, X)
        self.band_names_ = resolve_bands(self.bands)
        positions = band_indices(self.band_names_, names)
        if X.shape[2] % self.size_multiple or X.shape[3] % self.size_multiple:
            raise InputError(f"training patches must be multiples of {self.size_multiple} px, got {X.shape[2:]}")
        X = np.asarray(X[:, positions], np.float32)
        self.mean_, self.std_ = self._normalization(X)
        self.band_stats_ = band_statistics(X, self.band_names_)
        torch.manual_seed(self.random_state if self.random_state is not None else torch.seed())
        network = self._build_network(len(self.band_names_), pretrained=True)
        validation = None
        if eval_set is not None:
            X_val, y_val = eval_set
            X_val, val_names = check_images(X_val, band_names, name="eval_set X")
            y_val = check_masks(y_val, X_val, name="eval_set y")
            indexes = band_indices(self.band_names_, val_names)
            validation = as_tensors(self._normalise(np.asarray(X_val[:, indexes], np.float32)), y_val)
        best, self.history_ = train(network, self._trainable(network), *as_tensors(self._normalise(X), y),
                                    self._train_config(), validation, self._train_forward, self._forward)
        network.load_state_dict(best)
        self.network_ = network.eval()
        self.device_ = str(next(network.parameters()).device)
        return self

    def _predict_proba_selected(self, X):
        return self._batched_proba(X, lambda network, x, rows: self._forward(network, x))

    def _batched_proba(self, X, forward):
        """Probabilities of X (holding the fitted bands), batch by batch; ``forward(network, x, rows)`` gives logits.

        Inputs are normalised, padded to ``size_multiple`` (reflected, so the
        padding looks like the scene) and cropped back; bf16 autocast on CUDA.
        """
        device = resolve_torch_device(self.device)
        network = self.network_.to(device).eval()
        height, width = X.shape[2:]
        pad_h, pad_w = -height % self.size_multiple, -width % self.size_multiple
        out = np.empty((X.shape[0], height, width), np.float32)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        with torch.no_grad():
            for start in range(0, X.shape[0], self.batch_size):
                rows = slice(start, start + self.batch_size)
                batch = as_tensors(self._normalise(np.asarray(X[rows], np.float32))).to(device)
                if pad_h or pad_w:
                    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
                    batch = F.pad(batch, (0, pad_w, 0, pad_h), mode=mode)
                with autocast:
                    logits = forward(network, batch, rows)
                out[rows] = torch.sigmoid(logits.float())[:, 0, :height, :width].cpu().numpy()
        return out

    # Pickling serves in-process transport only (Dask scatters the model to its workers); model
    # files never hold a pickle (see smallmines_deep.persistence).
    def __getstate__(self):
        """Pickle the network as a CPU state dict, rebuilt from the parameters on load (no download)."""
        state = self.__dict__.copy()
        if "network_" in state:
            state["network_"] = snapshot(state["network_"])
        return state

    def __setstate__(self, state):
        weights = state.get("network_")
        self.__dict__.update(state)
        if isinstance(weights, dict):
            network = self._build_network(len(self.band_names_), pretrained=False)
            network.load_state_dict(weights)
            self.network_ = network.eval()
