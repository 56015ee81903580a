"""Images per second through augmentation + one contrastive training step, against the course's pace.

    .venv/bin/python scripts/bench_train.py                      # course scale (64x64, course encoder, batch 256)
    .venv/bin/python scripts/bench_train.py --preset quick       # the CPU preset of reference.experiments
    SIMGRADE_DEVICE=cuda python3 scripts/bench_train.py --compile

Each measured step is what :func:`reference.train.train_contrastive` does (it is called, with
``max_steps``): index a batch of uint8 images resident on the device, draw two views of every
image with the augmentation (kornia), one forward/backward of the encoder on both views, InfoNCE,
one Adam step. An image counts once (its two views are part of its step). The course notebook
took about two minutes per epoch of 40,000 images (per-image torchvision augmentation on the
CPU, then the GPU step): 40,000 / 120 s = 333 images/s, the ``course_pace`` that ``ratio``
divides by. Prints ONE JSON line.
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
from reference.models import Encoder  # noqa: E402
from reference.train import TrainConfig, seed_everything, train_contrastive  # noqa: E402

COURSE_PACE = 40_000 / 120.0
"""Images per second of the course notebook: 40,000 images per two-minute epoch."""


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def bench(aug: str, preset: str, steps: int, warmup: int, batch: int | None, compile: bool, device: torch.device,
          images: torch.Tensor) -> dict:
    p = PRESETS[preset]
    batch = batch or p.contrastive_batch
    seed_everything(0)
    enc = Encoder(p.latent, image_size=p.image_size, channels=p.channels)
    augment = augmentation(aug, p.image_size)
    epochs = -(-(steps + warmup) * batch // len(images)) + 1
    if warmup:
        train_contrastive(enc, augment, images, TrainConfig(epochs=epochs, batch_size=batch, progress=False,
                                                             compile=compile, max_steps=warmup), device)
    hist = train_contrastive(enc, augment, images, TrainConfig(epochs=epochs, batch_size=batch, progress=False,
                                                               compile=compile, max_steps=steps, seed=1), device)
    ips = hist.images_per_second
    return {"images_per_second": round(ips, 1), "ratio": round(ips / COURSE_PACE, 3), "steps": len(hist.losses),
            "seconds": round(hist.seconds, 3), "final_loss": round(hist.losses[-1], 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="course", choices=sorted(PRESETS))
    parser.add_argument("--augment", default="A,B,C", help="comma-separated subset of A,B,C")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 40 on CUDA, 8 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 2 on CPU)")
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's contrastive batch")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder (CUDA only)")
    args = parser.parse_args(argv)

    device = pick_device()
    cuda = device.type == "cuda"
    steps = args.steps or (40 if cuda else 8)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    p = PRESETS[args.preset]
    batch = args.batch or p.contrastive_batch
    n = min(p.n_images, max(4 * batch, batch * (steps + warmup) // 2))
    t0 = time.perf_counter()
    images = data.to_tensor(data.generate(n, seed=0).images, device, p.image_size)
    t_data = time.perf_counter() - t0
    results = {a: bench(a, args.preset, steps, warmup, args.batch, args.compile, device, images)
               for a in args.augment.split(",")}
    line = {
        "bench": "contrastive augmentation+step", "device": str(device), "device_name": _device_name(device),
        "torch": torch.__version__, "preset": args.preset, "image_size": p.image_size, "batch": batch,
        "compile": bool(args.compile and cuda), "course_pace": round(COURSE_PACE, 1),
        "data_seconds": round(t_data, 2), "results": results,
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
