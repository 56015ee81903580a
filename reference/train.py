"""The homework's two training loops, written to be read top to bottom (nanoGPT style): the
configuration first, then each training as one function (set up, then the loop: batch, loss,
step, bookkeeping), then the small pieces they share.

- :func:`train_autoencoder`: ``Encoder`` (unnormalised) + ``Decoder``, MSE reconstruction
  (:func:`reference.losses.autoencoder_loss`), Adam lr 2e-4, batch 256 (course: 30 epochs).
- :func:`train_contrastive`: a normalised ``Encoder``, two augmented views of every image of the
  batch, InfoNCE with in-batch negatives at tau = 0.07 (:func:`reference.losses.info_nce`),
  Adam lr 2e-4, batch 256 (course: 15 epochs).

The data are a uint8 tensor ``[N, 3, S, S]`` (:func:`reference.data.to_tensor`) that is moved
to the training device once and stays there; each step indexes a batch, converts it to [0, 1],
augments it on the device (:mod:`reference.augment`), scales it to [-1, 1] and takes one Adam step.
Nothing goes through a DataLoader or the CPU, and no step reads a value back (the losses are read
once an epoch), so on a GPU the whole epoch is queued device work.

On CUDA: bf16 autocast for the networks (the loss itself is computed in float32), channels_last
memory format, cuDNN autotuning and TF32, and optionally ``torch.compile`` of the networks.
Each epoch drops its last incomplete batch (a fixed batch shape: no recompilation, and every
InfoNCE batch has the same number of negatives).

Determinism: ``seed`` seeds torch (and so the augmentations' draws) at the start of training;
the caller seeds model initialisation (:func:`seed_everything` before building the models).
"""
from __future__ import annotations

import contextlib
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from reference.augment import two_views
from reference.data import normalize, to_float
from reference.device import pick_device
from reference.losses import autoencoder_loss, info_nce


# ------------------------------------------------------------------------------------ configuration
AUTOENCODER_EPOCHS = 30
"""The course's autoencoder run (the default of :func:`train_autoencoder`)."""
CONTRASTIVE_EPOCHS = 15
"""The course's contrastive run (the default of :func:`train_contrastive`)."""


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (defaults: the course's contrastive run)."""

    epochs: int = CONTRASTIVE_EPOCHS
    batch_size: int = 256
    lr: float = 2e-4
    tau: float = 0.07
    seed: int = 0
    compile: bool = False
    """``torch.compile`` the networks (CUDA only; ignored on CPU)."""
    amp: bool | None = None
    """bf16 autocast; None: on CUDA only."""
    progress: bool = True
    """tqdm progress bar (on stderr)."""
    checkpoint: str | Path | None = None
    """Where to ``torch.save`` the state dicts at the end of every epoch (None: nowhere)."""
    max_steps: int | None = None
    """Stop after this many steps in all (tests); None: run every epoch."""


@dataclass
class History:
    """What a run measured: the loss of every step, wall time, throughput."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the training steps (augmentation included; checkpoints and callbacks not)."""
    epoch_seconds: list[float] = field(default_factory=list)
    """Wall time of each epoch's steps: the first holds warm-up (``torch.compile``, cuDNN autotuning)."""
    images: int = 0
    """Images that went through the network (a contrastive step counts each image once, not its two views)."""

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def end_epoch(self, losses: list[torch.Tensor], batch_size: int, started: float) -> None:
        """Record one epoch: its steps' losses (device tensors, read back once: the device's work is
        done when they arrive), the images and the wall time since ``started`` (``time.perf_counter()``)."""
        if losses:
            self.losses += torch.stack(losses).float().cpu().tolist()
        self.images += len(losses) * batch_size
        self.epoch_seconds.append(time.perf_counter() - started)
        self.seconds += self.epoch_seconds[-1]


# ------------------------------------------------------------------------------------ the autoencoder
def train_autoencoder(enc: nn.Module, dec: nn.Module, images: torch.Tensor, cfg: TrainConfig | None = None,
                      device: torch.device | None = None, callback: Callable | None = None) -> History:
    """Train ``enc`` + ``dec`` in place to reconstruct ``images`` (uint8 ``[N, 3, S, S]``).

    ``callback(epoch, history)`` runs before training (epoch 0) and after every epoch.
    """
    cfg = cfg or TrainConfig(epochs=AUTOENCODER_EPOCHS)
    device = device or pick_device()
    images = images.to(device)
    (enc_run, dec_run), autocast = _setup(device, cfg, enc, dec)
    optim = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg.lr, fused=device.type == "cuda")
    enc.train(), dec.train()

    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    batch_size, total = _schedule(len(images), cfg)
    hist, step = History(), 0
    if callback is not None:
        callback(0, hist)
    bar = tqdm(total=total, desc="autoencoder", disable=not cfg.progress, leave=False, dynamic_ncols=True)
    for epoch in range(1, cfg.epochs + 1):
        start, losses = time.perf_counter(), []
        for idx in _batches(len(images), batch_size, device, generator):
            if step >= total:
                break
            batch = _inputs(to_float(images[idx]))
            with autocast():
                loss = autoencoder_loss(enc_run, dec_run, batch)   # F.mse_loss autocasts to float32
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()

            losses.append(loss.detach())
            step += 1
            _progress(bar, step, epoch, losses)
        hist.end_epoch(losses, batch_size, start)
        if cfg.checkpoint is not None:
            save_checkpoint(cfg.checkpoint, encoder=enc, decoder=dec)
        if callback is not None:
            callback(epoch, hist)
        if step >= total:
            break
    bar.close()
    return hist


# ------------------------------------------------------------------------------------ the contrastive encoder
def train_contrastive(enc: nn.Module, augment: nn.Module, images: torch.Tensor, cfg: TrainConfig | None = None,
                      device: torch.device | None = None, callback: Callable | None = None, name: str = "contrastive") -> History:
    """Train the normalised ``enc`` in place with InfoNCE on two ``augment`` views of each image.

    The two views go through the encoder as one batch of 2B images (the encoder has no
    batch-dependent layer, so this equals two calls, in one launch); the loss is
    ``info_nce(z1, z2, tau)`` in float32, exactly :func:`reference.losses.contrastive_loss`.
    ``callback(epoch, history)`` runs before training (epoch 0) and after every epoch.
    """
    cfg = cfg or TrainConfig(epochs=CONTRASTIVE_EPOCHS)
    device = device or pick_device()
    images = images.to(device)
    augment = augment.to(device)
    (enc_run,), autocast = _setup(device, cfg, enc)
    optim = torch.optim.Adam(enc.parameters(), lr=cfg.lr, fused=device.type == "cuda")
    enc.train()

    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    batch_size, total = _schedule(len(images), cfg)
    hist, step = History(), 0
    if callback is not None:
        callback(0, hist)
    bar = tqdm(total=total, desc=name, disable=not cfg.progress, leave=False, dynamic_ncols=True)
    for epoch in range(1, cfg.epochs + 1):
        start, losses = time.perf_counter(), []
        for idx in _batches(len(images), batch_size, device, generator):
            if step >= total:
                break
            x01 = to_float(images[idx])
            with torch.no_grad():
                batch1, batch2 = two_views(augment, x01)
            with autocast():
                z = enc_run(_inputs(torch.cat([batch1, batch2])))
            z1, z2 = z.float().chunk(2)
            loss = info_nce(z1, z2, cfg.tau)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()

            losses.append(loss.detach())
            step += 1
            _progress(bar, step, epoch, losses)
        hist.end_epoch(losses, batch_size, start)
        if cfg.checkpoint is not None:
            save_checkpoint(cfg.checkpoint, encoder=enc)
        if callback is not None:
            callback(epoch, hist)
        if step >= total:
            break
    bar.close()
    return hist


# ------------------------------------------------------------------------------------ the pieces
def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _schedule(n: int, cfg: TrainConfig) -> tuple[int, int]:
    """(batch size, steps in all): at most ``n`` images a batch, every epoch's full batches, at most ``max_steps``."""
    batch_size = min(cfg.batch_size, n)
    steps = cfg.epochs * (n // batch_size)
    return batch_size, steps if cfg.max_steps is None else min(cfg.max_steps, steps)


def _batches(n: int, batch_size: int, device: torch.device, generator: torch.Generator):
    """Index tensors of one shuffled epoch, the last incomplete batch dropped."""
    order = torch.randperm(n, device=device, generator=generator)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start:start + batch_size]


def _inputs(x01: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the networks' input in [-1, 1] (channels_last on CUDA)."""
    x = normalize(x01)
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def _progress(bar, step: int, epoch: int, losses: list[torch.Tensor]) -> None:
    """One step on the progress bar; every 25 steps the epoch and the last loss (reading it waits for the
    device, so a run without a bar never reads it)."""
    if bar.disable:
        return
    bar.update(1)
    if step % 25 == 0:
        bar.set_postfix(epoch=epoch, loss=f"{losses[-1].item():.4f}")


def _setup(device: torch.device, cfg: TrainConfig, *modules: nn.Module):
    """Move the networks to the device; on CUDA: channels_last, TF32, cuDNN autotuning, optional compile.

    Returns what to call for each network (the module, or its compiled form) and the autocast context.
    """
    cuda = device.type == "cuda"
    for m in modules:
        m.to(device)
        if cuda:
            m.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    amp = cuda if cfg.amp is None else cfg.amp
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    use_compile = cfg.compile and cuda and os.environ.get("SIMGRADE_COMPILE", "1") != "0"
    runners = [_CompiledOrEager(m) if use_compile else m for m in modules]
    return runners, autocast


class _CompiledOrEager:
    """``torch.compile(module)``, falling back to the eager module (with a warning) if compiling fails,
    e.g. on a machine without a C compiler for Triton. ``SIMGRADE_COMPILE=0`` turns compiling off."""

    def __init__(self, module: nn.Module):
        self.eager, self.compiled, self.failed = module, torch.compile(module), False

    def __call__(self, *args):
        if not self.failed:
            try:
                return self.compiled(*args)
            except Exception as error:  # noqa: BLE001 - any compiler failure: run eagerly instead
                warnings.warn(f"torch.compile failed, training eagerly: {type(error).__name__}: {error}"[:500])
                self.failed = True
        return self.eager(*args)


def save_checkpoint(path: str | Path, **modules: nn.Module) -> None:
    """``torch.save({name: module.state_dict()})``, written under a temporary name and renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({name: m.state_dict() for name, m in modules.items()}, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, **modules: nn.Module) -> None:
    """Load state dicts saved by :func:`save_checkpoint` (``weights_only=True``: tensors only, no pickle code)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name, m in modules.items():
        m.load_state_dict(state[name])
