"""U-Net (segmentation-models-pytorch), the paper's strongest simple model."""

import math

import torch

from smallmines_classic.errors import ModelFileError

from .base import DeepSegmenter, check_weights_file, weights_download_error

__all__ = ["UNetSegmenter", "load_encoder_weights"]


def load_encoder_weights(encoder, path, n_bands):
    """Load a local encoder weights file (a state dict, optionally under "state_dict", keys optionally "encoder.").

    A first convolution trained on 3 bands is adapted to ``n_bands`` as
    segmentation-models-pytorch does: its kernels are repeated over the new
    bands and scaled by 3 / n_bands.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {key.removeprefix("encoder."): value for key, value in state.items()}
    own = encoder.state_dict()
    first_conv = next(key for key, value in own.items() if value.ndim == 4)
    if first_conv in state and state[first_conv].shape[1] != n_bands:
        weight = state[first_conv]
        state[first_conv] = (weight.repeat(1, math.ceil(n_bands / weight.shape[1]), 1, 1)[:, :n_bands]
                             * (weight.shape[1] / n_bands))
    missing = [key for key in own if key not in state]
    if missing:
        raise ModelFileError(f"{path} does not hold weights for this encoder: missing {missing[:5]} "
                             f"({len(missing)} keys)")
    encoder.load_state_dict({key: state[key] for key in own})


class UNetSegmenter(DeepSegmenter):
    """U-Net with a ResNet (or any segmentation-models-pytorch) encoder, trained as in the paper.

    Defaults follow the paper: RGB, ResNet-50, AdamW at lr 1e-3 multiplied by
    0.1 every 10 epochs, binary cross-entropy with class weights 0.9 (mining)
    / 0.1, horizontal and vertical flips, batch size 4.

    Parameters
    ----------
    bands : str or sequence of str, default "rgb"
    encoder : str, default "resnet50"
        Any encoder name segmentation-models-pytorch knows (``"resnet18"`` for a small one).
    encoder_weights : None, "imagenet" or path, default None
        ``"imagenet"`` downloads through the library when online (and raises
        an error saying how to pass a local file when offline); a path loads
        a local weights file; None starts from random weights.
    epochs, batch_size, lr, weight_decay, lr_step_epochs : training schedule
    augment : bool, default True
        Random horizontal and vertical flips.
    early_stopping : int or None
        Stop after this many epochs without a better validation IoU.
    normalization : dict or None
        ``{"mean": [...], "std": [...]}`` per band; None computes them from the training data.
    threshold : float, default 0.5
    device : {"auto", "cpu", "cuda"}, default "auto"
    compile : bool, default False
        ``torch.compile`` the network for training.
    training_checkpoint : path or None
        Save after every epoch; a later ``fit`` with the same settings resumes from it.
    random_state : int or None
    verbose : bool, default False
        Progress bar with loss and IoU.
    """

    def __init__(self, bands="rgb", encoder="resnet50", encoder_weights=None, epochs=100, batch_size=4, lr=1e-3,
                 weight_decay=0.01, lr_step_epochs=10, augment=True, early_stopping=None, normalization=None,
                 threshold=0.5, device="auto", compile=False, training_checkpoint=None, random_state=None,
                 verbose=False):
        self._store_params(locals())

    def _build_network(self, n_bands, pretrained):
        import segmentation_models_pytorch as smp

        weights = self.encoder_weights if pretrained else None
        check_weights_file(weights, "imagenet", "encoder weights file")
        if weights != "imagenet":
            network = smp.Unet(self.encoder, encoder_weights=None, in_channels=n_bands, classes=1)
            if weights is not None:
                load_encoder_weights(network.encoder, weights, n_bands)
            return network
        try:
            return smp.Unet(self.encoder, encoder_weights="imagenet", in_channels=n_bands, classes=1)
        except Exception as error:  # hub and URL downloads fail with many error types when offline
            raise weights_download_error(
                error, f"the ImageNet weights of encoder {self.encoder!r}",
                f"run python -c \"import torch, segmentation_models_pytorch as smp; "
                f"torch.save(smp.Unet('{self.encoder}', encoder_weights='imagenet').encoder.state_dict(), "
                f"'{self.encoder}_imagenet.pth')\"", "encoder_weights",
            ) from error
