"""Training images per second of each encoder of the homework, on whatever device this runs on.

    .venv/bin/python scripts/bench_train.py                      # course scale (64x64, course networks, batch 256)
    .venv/bin/python scripts/bench_train.py --preset quick       # the CPU preset of reference.experiments
    SIMGRADE_DEVICE=cuda python3 scripts/bench_train.py --compile
    .venv/bin/python scripts/bench_train.py --encoders C         # a subset of autoencoder,A,B,C

Each measured step is what the training loops of :mod:`reference.train` do (they are called, with
``max_steps``): index a batch of uint8 images resident on the device; for ``autoencoder``, one
forward/backward of encoder and decoder and the MSE; for ``A``, ``B``, ``C``, two views of every
image drawn by that augmentation, one forward/backward of the encoder on both views, InfoNCE. Then
one Adam step. An image counts once (its two views are part of its step). The course notebook took
about two minutes per contrastive epoch of 40,000 images (per-image torchvision augmentation on the
CPU, then the GPU step): 40,000 / 120 s = 333 images/s, the ``course_pace`` that a contrastive
encoder's ``ratio`` divides by (the course gave no pace for the autoencoder). Prints ONE JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from reference import data  # noqa: E402
from reference.augment import augmentation  # noqa: E402
from reference.device import pick_device  # noqa: E402
from reference.experiments import PRESETS  # noqa: E402
from reference.train import TrainConfig, seed_everything, train_autoencoder, train_contrastive  # noqa: E402

ENCODERS = ("autoencoder", "A", "B", "C")

COURSE_PACE = 40_000 / 120.0
"""Images per second of the course notebook: 40,000 images per two-minute epoch."""


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def bench(encoder: str, preset: str, steps: int, warmup: int, batch: int | None, compile: bool, device: torch.device,
          images: torch.Tensor) -> dict:
    """Train ``encoder`` (``autoencoder``, or a contrastive one by its augmentation) for ``warmup`` untimed, then
    ``steps`` timed steps."""
    p = PRESETS[preset]
    contrastive = encoder != "autoencoder"
    batch = batch or (p.contrastive_batch if contrastive else p.ae_batch)
    seed_everything(0)
    enc = p.encoder(autoencoder=not contrastive)
    augment = augmentation(encoder, p.image_size) if contrastive else None
    dec = None if contrastive else p.decoder()

    def train(cfg: TrainConfig):
        if contrastive:
            return train_contrastive(enc, augment, images, cfg, device)
        return train_autoencoder(enc, dec, images, cfg, device)

    epochs = -(-(steps + warmup) * batch // len(images)) + 1
    if warmup:
        train(TrainConfig(epochs=epochs, batch_size=batch, progress=False, compile=compile, max_steps=warmup))
    hist = train(TrainConfig(epochs=epochs, batch_size=batch, progress=False, compile=compile, max_steps=steps, seed=1))
    ips = hist.images_per_second
    return {"images_per_second": round(ips, 1), "ratio": round(ips / COURSE_PACE, 3) if contrastive else None,
            "batch": batch, "steps": len(hist.losses), "seconds": round(hist.seconds, 3),
            "final_loss": round(hist.losses[-1], 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="course", choices=sorted(PRESETS))
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated subset of " + ",".join(ENCODERS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 40 on CUDA, 8 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 2 on CPU)")
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's batch of each training")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA only)")
    args = parser.parse_args(argv)
    names = [e for e in args.encoders.split(",") if e]
    if set(names) - set(ENCODERS):
        parser.error(f"unknown encoders {sorted(set(names) - set(ENCODERS))}; choose from {','.join(ENCODERS)}")

    device = pick_device()
    cuda = device.type == "cuda"
    steps = args.steps or (40 if cuda else 8)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    p = PRESETS[args.preset]
    batch = args.batch or max(p.contrastive_batch, p.ae_batch)
    n = min(p.n_images, max(4 * batch, batch * (steps + warmup) // 2))
    t0 = time.perf_counter()
    images = data.to_tensor(data.generate(n, seed=0).images, device, p.image_size)
    t_data = time.perf_counter() - t0
    results = {e: bench(e, args.preset, steps, warmup, args.batch, args.compile, device, images) for e in names}
    line = {
        "bench": "training images/s per encoder", "device": str(device), "device_name": _device_name(device),
        "torch": torch.__version__, "preset": args.preset, "image_size": p.image_size,
        "compile": bool(args.compile and cuda), "course_pace": round(COURSE_PACE, 1),
        "data_seconds": round(t_data, 2), "results": results,
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
