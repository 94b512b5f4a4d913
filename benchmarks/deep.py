"""One U-Net training epoch: our trainer vs a loop shaped like the authors' script, same data, same device.

    python -m benchmarks.deep                        # CUDA GPU: the twin's train split, ResNet-50
    python -m benchmarks.deep --device cpu --patches 32 --encoder resnet18   # a small CPU run

The reference reads GeoTIFF patches through a DataLoader each epoch (batch
4, flips on the CPU, fp16 autocast with a GradScaler on CUDA), as the
authors' TerraTorch / Lightning script does. Ours keeps the normalised set
resident on the GPU when it fits, flips there, runs bf16 and channels-last.
Both fit the same network from the same initial weights; the figure is
training images per second, after one warm-up epoch each.
"""

import argparse
import platform
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from smallmines_classic import load_smallminesds
from smallmines_classic.workflows import synthetic_twin
from smallmines_deep import SmallMinesDataset, TrainConfig, UNetSegmenter
from smallmines_deep.trainer import as_tensors, train, weighted_bce


def reference_epoch(network, dataset, mean, std, device):
    """The authors' shape: files -> DataLoader -> batch 4 -> mixed precision."""
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=2, drop_last=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    mean, std = torch.as_tensor(mean)[None, :, None, None], torch.as_tensor(std)[None, :, None, None]
    network.train()
    for batch in loader:
        x, y = (batch["image"] - mean) / std, batch["mask"].float()[:, None]
        for axis in (-1, -2):
            if torch.rand(1) < 0.5:
                x, y = x.flip(axis), y.flip(axis)
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            loss = weighted_bce(network(x).float(), y, 0.9)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--encoder", default="resnet50")
    parser.add_argument("--patches", type=int, help="use the first N training patches (default: all)")
    parser.add_argument("--tiles", type=int, default=200, help="twin size (default: 200 tiles)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our network")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU: the GPU benchmark was not run (use --device cpu for a small CPU comparison)")
        return
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU"
    root = synthetic_twin(args.tiles, progress=False)
    train_set = load_smallminesds(root, split="train", bands="rgb", progress=False)
    dataset = SmallMinesDataset(root, split="train", bands="rgb")
    n = args.patches or len(train_set)
    dataset.patches = dataset.patches[:n]
    X, y = np.asarray(train_set.images[:n]), np.asarray(train_set.masks[:n])
    model = UNetSegmenter(encoder=args.encoder, device=args.device, random_state=0, compile=args.compile)
    model.band_names_ = train_set.band_names
    model.mean_, model.std_ = model._normalization(X)
    images, masks = as_tensors(model._normalise(X), y)
    print(f"device: {name}; {n} patches of 3 x 128 x 128; U-Net {args.encoder}")

    rates = {}
    for label in ("reference", "ours"):
        torch.manual_seed(0)
        network = model._build_network(3, pretrained=False).to(device)
        for epoch in range(2):  # the first epoch warms up (cuDNN autotuning, compilation, file cache)
            synchronise(device)
            start = time.perf_counter()
            if label == "ours":
                config = TrainConfig(epochs=1, batch_size=4, device=args.device, compile=args.compile, seed=epoch,
                                     progress=False)
                train(network, network.parameters(), images, masks, config)
            else:
                reference_epoch(network, dataset, model.mean_, model.std_, device)
            synchronise(device)
            elapsed = time.perf_counter() - start
        rates[label] = n / elapsed
        print(f"{label:<10} {rates[label]:8.1f} images/s")
    print(f"ratio ours / reference: {rates['ours'] / rates['reference']:.2f}x")


if __name__ == "__main__":
    main()
