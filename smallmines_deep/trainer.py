"""The one training loop every deep segmenter uses.

Device choice, bf16 autocast on CUDA, the training set resident on the GPU
when it fits (flips done there too), AdamW with a step learning-rate decay,
the paper's class-weighted binary cross-entropy, best epoch kept by
validation IoU, optional early stopping, a progress bar with loss and IoU,
and checkpoints that resume an interrupted fit.
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from smallmines_classic._writes import atomic_path
from smallmines_classic.errors import DeviceError, InputError
from smallmines_classic.metrics import confusion_counts
from smallmines_classic.models.persistence import ModelFileError

__all__ = ["TrainConfig", "resolve_torch_device", "weighted_bce", "train", "snapshot", "CheckpointMismatchError"]


class CheckpointMismatchError(ModelFileError):
    """A checkpoint belongs to another model, other bands or other settings."""


@dataclass
class TrainConfig:
    """Settings of one fit (the estimator fills it from its parameters)."""

    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    lr_step_epochs: int = 10
    lr_gamma: float = 0.1
    mining_weight: float = 0.9
    augment: bool = True
    early_stopping: int | None = None
    device: str = "auto"
    compile: bool = False
    checkpoint: str | None = None
    seed: int | None = None
    progress: bool = True
    signature: dict = field(default_factory=dict)


def resolve_torch_device(device):
    """``"auto"`` -> CUDA if available, else CPU (with a warning); ``"cuda"`` without a GPU raises."""
    if device not in ("auto", "cpu", "cuda", "gpu"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if device == "auto":
        warnings.warn("device='auto': no CUDA GPU is visible, training on the CPU", RuntimeWarning, stacklevel=3)
        return torch.device("cpu")
    raise DeviceError(f"device={device!r} needs a CUDA GPU and a CUDA build of PyTorch; torch {torch.__version__} "
                      "sees none")


def weighted_bce(logits, target, mining_weight):
    """Binary cross-entropy with weight ``mining_weight`` on mining pixels and ``1 - mining_weight`` on background."""
    weight = torch.where(target > 0.5, mining_weight, 1.0 - mining_weight)
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


def _flip(x, y, generator):
    """Random horizontal and vertical flips, one draw per sample, on whatever device x lives."""
    for axis in (-1, -2):
        chosen = torch.rand(x.shape[0], generator=generator, device="cpu") < 0.5
        if chosen.any():
            index = chosen.nonzero().squeeze(1).to(x.device)
            x[index] = x[index].flip(axis)
            y[index] = y[index].flip(axis)
    return x, y


def _iou(network, X, y, batch_size, device, autocast, forward):
    """Mining IoU of the network on (X, y) tensors, pooled over pixels (counted by the classic metrics)."""
    network.eval()
    counts = {"tp": 0, "fp": 0, "fn": 0}
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            with autocast:
                predicted = forward(network, X[start:start + batch_size].to(device, non_blocking=True)).float() > 0
            batch = confusion_counts(y[start:start + batch_size, 0].cpu().numpy().astype(np.uint8),
                                     predicted[:, 0].cpu().numpy())
            counts = {k: v + batch[k] for k, v in counts.items()}
    network.train()
    total = counts["tp"] + counts["fp"] + counts["fn"]
    return counts["tp"] / total if total else 0.0


def snapshot(network):
    """A copy of the network's weights on the CPU (a copy on the CPU too, so later training cannot change it)."""
    return {key: value.detach().cpu().clone() for key, value in network.state_dict().items()}


def _fits_on_gpu(device, *tensors):
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.numel() * t.element_size() for t in tensors) < 0.4 * free


def _save_checkpoint(path, state):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path, signature):
    try:
        # weights_only: tensors, numbers, strings and containers only; a crafted file runs nothing.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many kinds for a damaged or foreign file
        raise ModelFileError(f"checkpoint {path} is not a readable training checkpoint ({type(error).__name__}: "
                             f"{error}); delete it or point training_checkpoint= elsewhere to start afresh") from error
    if not isinstance(state, dict):
        raise ModelFileError(f"checkpoint {path} is not a training checkpoint; "
                             "delete it or point training_checkpoint= elsewhere")
    if state.get("signature") != signature:
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for {state.get('signature')}, not for {signature}: "
            "delete it or point training_checkpoint= elsewhere to start afresh"
        )
    return state


def train(network, parameters, X, y, config, eval_set=None, train_forward=None, forward=None):
    """Fit ``network`` on normalised tensors; returns (best state dict, history).

    Parameters
    ----------
    network : torch.nn.Module
        Maps (B, C, H, W) to logits (B, 1, H, W).
    parameters : iterable of torch.nn.Parameter
        What the optimiser updates (e.g. without a frozen backbone).
    X, y : torch.Tensor
        (N, C, H, W) float32 normalised images and (N, 1, H, W) float32 masks, on the CPU.
    config : TrainConfig
    eval_set : tuple of torch.Tensor or None
        Validation (X, y); the epoch with the best IoU on it is kept. Without
        it, the last epoch is kept.
    train_forward : callable or None
        ``train_forward(network, x, y) -> logits`` for models that need the
        masks in training (SAM-2's prompts); default ``network(x)``.
    forward : callable or None
        ``forward(network, x) -> logits`` at evaluation; default ``network(x)``.
    """
    forward = forward or (lambda net, x: net(x))
    train_forward = train_forward or (lambda net, x, _: forward(net, x))
    device = resolve_torch_device(config.device)
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else int(torch.seed() % 2**63))
    network.to(device)
    if device.type == "cuda":
        network.to(memory_format=torch.channels_last)
    # bf16 autocast on the GPU only: on the CPU it is slow and changes results.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    model_call = torch.compile(network) if config.compile else network
    parameters = [p for p in parameters if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step_epochs, config.lr_gamma)

    if _fits_on_gpu(device, X, y):
        X, y = X.to(device), y.to(device)  # resident: no host-to-device copy per batch
    state = {"epoch": -1, "best_iou": -1.0, "best_state": None, "history": [], "bad_epochs": 0}
    checkpoint = Path(config.checkpoint) if config.checkpoint else None
    if checkpoint is not None and checkpoint.is_file():
        state = _load_checkpoint(checkpoint, config.signature)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])

    epochs = tqdm(range(state["epoch"] + 1, config.epochs), desc="training", unit="epoch", disable=not config.progress,
                  initial=state["epoch"] + 1, total=config.epochs)
    network.train()
    for epoch in epochs:
        order = torch.randperm(len(X), generator=generator).to(X.device)
        total, batches = 0.0, 0
        for start in range(0, len(X), config.batch_size):
            index = order[start:start + config.batch_size]
            if len(index) == 1 and len(X) > 1:
                continue  # BatchNorm cannot train on one sample; it is seen in other epochs' batches
            x = X[index].to(device, non_blocking=True)
            t = y[index].to(device, non_blocking=True)
            if config.augment:
                x, t = _flip(x, t, generator)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = train_forward(model_call, x, t)
            loss = weighted_bce(logits.float(), t, config.mining_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        scheduler.step()
        record = {"epoch": epoch, "loss": total / max(batches, 1), "lr": optimizer.param_groups[0]["lr"]}
        if eval_set is not None:
            record["val_iou"] = _iou(network, *eval_set, config.batch_size, device, autocast, forward)
            if record["val_iou"] > state["best_iou"]:
                state["best_iou"], state["bad_epochs"] = record["val_iou"], 0
                state["best_state"] = snapshot(network)
            else:
                state["bad_epochs"] += 1
        state["history"].append(record)
        state["epoch"] = epoch
        epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "val_iou")})
        if checkpoint is not None:
            _save_checkpoint(checkpoint, {**state, "signature": config.signature, "model": network.state_dict(),
                                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                          "generator": generator.get_state()})
        if config.early_stopping and eval_set is not None and state["bad_epochs"] >= config.early_stopping:
            break
    best = state["best_state"] or snapshot(network)
    return best, state["history"]


def as_tensors(X, y=None):
    """numpy (N, C, H, W) images and (N, H, W) masks as float32 tensors (masks with a channel axis)."""
    images = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    if y is None:
        return images
    return images, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[:, None]
