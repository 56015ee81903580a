"""The experiments behind Q4(e), Q7(d) and Q8: train the autoencoder and the contrastive encoders
A, B, C on the colored shapes, then measure what their features keep.

    python -m reference.experiments --preset quick --out DIR     # about 3.5 min on a 2-core CPU
    python -m reference.experiments --preset course --out DIR    # the course's scale, on a GPU

Writes, in DIR:

- ``metrics.json``: ``{"encoders": {name: {"knn_accuracy": {"color", "shape", "location"},
  "alignment", "uniformity"}}, "chance": {"color", "shape", "location"}}`` for the names
  ``autoencoder``, ``contrastive_A``, ``contrastive_B``, ``contrastive_C`` (1-NN train -> val,
  :mod:`reference.analysis`);
- ``nn_<name>.png``: the course's nearest-neighbour figure of each encoder (validation split);
- ``details.json``: the preset, timings, each run's loss curve summary, the 1-NN accuracy of the
  untrained encoders and of the raw pixels (``raw_pixels``: the flattened input images, no encoder), and the
  diameters and margins of augmentation sets (Q4(b)) of every
  contrastive run, before training and after each epoch;
- ``<name>.pt``: each encoder's state dict (``torch.load(..., weights_only=True)``).

Presets (:data:`PRESETS`): ``course`` is HOMEWORK.md's setting (64,000 images at 64x64, the first
40,000 train, the course's channels, latent 128, Adam 2e-4, batch 256, 30 autoencoder / 15 contrastive
epochs). ``quick`` fits a 2-core CPU (about 3.5 minutes): 8,000 images (5,000 train / 3,000 val)
area-averaged to 32x32, where shapes are 7.5-24.5 px across and keep their form in B's crops (at 16x16
they were 4-12 px, and B's widest crops shrank them to 3-9 px); the contrastive encoders with a quarter of the course's
channels at each resolution (16, 32, 64, 128 for 32 -> 16 -> 8 -> 4 -> 2 px), latent 64; Adam at
1e-3, batch 128, 25 epochs, to learn in hundreds of steps rather than thousands. The autoencoder is
wider (32, 64, 96, 128) and takes batch 32 for 24 epochs: its code first holds where the shape is,
and its colour only after a plateau, which the narrow network left after 25 to 35 epochs of batch 32
depending on the seed, this one after 10 to 20. ``micro`` is for tests only.

Alignment: a contrastive encoder's under its own augmentation; the autoencoder (trained on no
views) under each of A, B, C, averaged. Uniformity: of the validation images' own features.
Both after L2 normalisation (:func:`reference.analysis.alignment_uniformity`).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from reference import analysis, data
from reference.augment import augmentation
from reference.device import pick_device
from reference.models import Decoder, Encoder
from reference.train import TrainConfig, seed_everything, train_autoencoder, train_contrastive

ENCODERS = ("autoencoder", "contrastive_A", "contrastive_B", "contrastive_C")


@dataclass(frozen=True)
class Preset:
    """Everything that decides an experiment's numbers."""

    n_images: int
    image_size: int
    channels: tuple[int, ...] | None
    """Hidden channels of the encoders (None: the course's)."""
    latent: int
    ae_epochs: int
    ae_batch: int
    contrastive_epochs: int
    contrastive_batch: int
    lr: float
    tau: float = 0.07
    seed: int = 0
    data_seed: int = 0
    geometry_sets: int = 16
    """Q4(e): number of augmentation sets S_i (validation images) whose diameters and margins are tracked."""
    geometry_views: int = 32
    """Q4(e): views drawn to represent each S_i."""
    eval_images: int = 24_000
    """Validation images in the neighbour figure and the uniformity/alignment sample (the course's 24,000)."""
    geometry_max_images: int = 2048
    """Cap on the images of the alignment/uniformity measurements."""
    compile: bool = False
    ae_channels: tuple[int, ...] | None = None
    """Hidden channels of the autoencoder's encoder and (mirrored) decoder; None: ``channels``."""

    def encoder(self, autoencoder: bool = False) -> Encoder:
        """A new encoder of a run: the autoencoder's (unnormalised) or a contrastive one (unit vectors)."""
        return Encoder(self.latent, normalize=not autoencoder, image_size=self.image_size,
                       channels=self._hidden(autoencoder))

    def decoder(self) -> Decoder:
        """A new decoder, the mirror of the autoencoder's encoder."""
        return Decoder(self.latent, image_size=self.image_size, channels=self._hidden(autoencoder=True))

    def _hidden(self, autoencoder: bool) -> tuple[int, ...] | None:
        return self.ae_channels if autoencoder and self.ae_channels is not None else self.channels


PRESETS = {
    "course": Preset(n_images=64_000, image_size=64, channels=None, latent=128, ae_epochs=30, ae_batch=256,
                     contrastive_epochs=15, contrastive_batch=256, lr=2e-4, compile=True),
    "quick": Preset(n_images=8_000, image_size=32, channels=(16, 32, 64, 128), latent=64, ae_epochs=24, ae_batch=32,
                    contrastive_epochs=25, contrastive_batch=128, lr=1e-3, ae_channels=(32, 64, 96, 128)),
    "micro": Preset(n_images=320, image_size=16, channels=(8, 8, 16), latent=16, ae_epochs=1, ae_batch=32,
                    contrastive_epochs=1, contrastive_batch=32, lr=1e-3, geometry_sets=4, geometry_views=4,
                    geometry_max_images=128),
}

_SOURCES = ("data.py", "augment.py", "models.py", "train.py", "analysis.py", "metrics.py", "losses.py", "experiments.py")


def config_key(preset: Preset) -> str:
    """A hash of the preset and of the code that produces the numbers (the cache key of :func:`cached_run`)."""
    h = hashlib.sha256(json.dumps(asdict(preset), sort_keys=True).encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        path = here / name
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()[:16]


def _log(msg: str) -> None:
    print(f"[experiments] {msg}", file=sys.stderr, flush=True)


def _evaluate(enc, p: Preset, x_train, x_val, train, val, augments, device) -> dict:
    f_train = analysis.features(enc, x_train, device=device)
    f_val = analysis.features(enc, x_val, device=device)
    acc = analysis.knn_accuracy(f_train.to(device), train, f_val.to(device), val)
    n = min(len(x_val), p.geometry_max_images)
    align, unif = analysis.alignment_uniformity(enc, x_val[:n], augments, seed=p.seed)
    return {"knn_accuracy": acc, "alignment": align, "uniformity": unif}, f_val


def run(preset: str | Preset, out: str | Path, device: torch.device | None = None, progress: bool = True,
        encoders=ENCODERS) -> dict:
    """Train and measure every encoder of ``encoders``; write DIR's files (module docstring); return the metrics."""
    p = PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = device or pick_device()
    started = time.perf_counter()
    _log(f"device {device}; preset {p}")

    shapes = data.load(p.n_images, p.data_seed)
    train, val = shapes.split("train"), shapes.split("val")
    x_train = data.to_tensor(train.images, device, p.image_size)
    x_val = data.to_tensor(val.images, device, p.image_size)
    n_eval = min(len(val), p.eval_images)
    augments = {name: augmentation(name, p.image_size).to(device) for name in "ABC"}
    geometry_images = x_val[: p.geometry_sets]
    metrics = {"encoders": {}, "chance": analysis.chance(train, val)}
    details = {"preset": asdict(p), "device": str(device), "n_train": len(train), "n_val": len(val),
               "torch": torch.__version__, "seconds": {}, "untrained": {}, "geometry": {}, "loss": {}}
    details["raw_pixels"] = analysis.knn_accuracy(analysis.pixels(x_train), train, analysis.pixels(x_val), val)

    for name in encoders:
        t0 = time.perf_counter()
        seed_everything(p.seed)
        contrastive = name.startswith("contrastive_")
        enc = p.encoder(autoencoder=not contrastive).to(device)
        own = [augments[name[-1]]] if contrastive else list(augments.values())
        f_train0 = analysis.features(enc, x_train, device=device)
        f_val0 = analysis.features(enc, x_val, device=device)
        details["untrained"][name] = analysis.knn_accuracy(f_train0.to(device), train, f_val0.to(device), val)
        if contrastive:
            geometry = {}

            def snapshot(epoch, hist, enc=enc, aug=own[0], geometry=geometry):
                geometry[str(epoch)] = analysis.set_geometry(enc, geometry_images, aug, p.geometry_views, seed=p.seed)

            cfg = TrainConfig(epochs=p.contrastive_epochs, batch_size=p.contrastive_batch, lr=p.lr, tau=p.tau,
                              seed=p.seed, compile=p.compile, progress=progress)
            hist = train_contrastive(enc, own[0], x_train, cfg, device, callback=snapshot, name=name)
            details["geometry"][name] = geometry
            modules = {"encoder": enc}
        else:
            dec = p.decoder().to(device)
            cfg = TrainConfig(epochs=p.ae_epochs, batch_size=p.ae_batch, lr=p.lr, seed=p.seed,
                              compile=p.compile, progress=progress)
            hist = train_autoencoder(enc, dec, x_train, cfg, device)
            modules = {"encoder": enc, "decoder": dec}
        t_train = time.perf_counter() - t0
        metrics["encoders"][name], f_val = _evaluate(enc, p, x_train, x_val, train, val, own, device)
        analysis.neighbour_figure(f_val[:n_eval], val.images[:n_eval], out / f"nn_{name}.png",
                                  title=f"{name} ({p.image_size}x{p.image_size} input, validation split)", seed=p.seed)
        torch.save({k: {n: t.cpu() for n, t in m.state_dict().items()} for k, m in modules.items()}, out / f"{name}.pt")
        losses = hist.losses
        tail = max(1, len(losses) // 10)
        details["loss"][name] = {"first": losses[0] if losses else None, "last": float(np.mean(losses[-tail:])) if losses else None,
                                 "steps": len(losses)}
        details["seconds"][name] = {"train": round(hist.seconds, 2), "with_measurements": round(t_train, 2),
                                    "total": round(time.perf_counter() - t0, 2),
                                    "images_per_second": round(hist.images_per_second, 1),
                                    "epochs": [round(t, 2) for t in hist.epoch_seconds]}
        acc = metrics["encoders"][name]["knn_accuracy"]
        _log(f"{name}: {hist.seconds:.0f}s training ({hist.images_per_second:.0f} images/s), 1-NN " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))

    details["seconds"]["total"] = round(time.perf_counter() - started, 2)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "details.json").write_text(json.dumps(details, indent=2) + "\n")
    _log(f"done in {details['seconds']['total']:.0f}s; chance " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["chance"].items()))
    return metrics


_MEMO: dict[str, tuple[dict, dict]] = {}


def cached_run(preset: str = "quick", device: torch.device | None = None, seed: int | None = None) -> tuple[dict, dict]:
    """``(metrics, details)`` of ``preset`` (with its training ``seed`` replaced when given), trained at most once
    per cache key.

    Kept under ``<cache>/experiments/<preset>-<config_key>/`` (the data cache's root,
    :func:`reference.data.cache_dir`); a file lock makes concurrent callers (pytest-xdist
    workers) wait for one run instead of training twice.
    """
    p = PRESETS[preset] if seed is None else replace(PRESETS[preset], seed=seed)
    key = f"{preset}-{config_key(p)}"
    if key in _MEMO:
        return _MEMO[key]
    folder = data.cache_dir() / "experiments" / key
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if not (folder / "details.json").exists():
            run(p, folder, device=device, progress=False)
    result = (json.loads((folder / "metrics.json").read_text()), json.loads((folder / "details.json").read_text()))
    _MEMO[key] = result
    return result


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.experiments", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--out", required=True, help="output folder (metrics.json, details.json, nn_*.png, *.pt)")
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated subset of " + ",".join(ENCODERS))
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every epoch count (e.g. 0.5 for a faster, rougher run)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (initialisation, batch order, augmentation "
                        "draws; the images stay the preset's); default: the preset's")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    p = PRESETS[args.preset]
    if args.seed is not None:
        p = replace(p, seed=args.seed)
    if args.epochs_scale != 1.0:
        p = replace(p, ae_epochs=max(1, round(p.ae_epochs * args.epochs_scale)),
                    contrastive_epochs=max(1, round(p.contrastive_epochs * args.epochs_scale)))
    names = [n for n in args.encoders.split(",") if n]
    unknown = set(names) - set(ENCODERS)
    if unknown:
        parser.error(f"unknown encoders {sorted(unknown)}")
    metrics = run(p, args.out, progress=not args.no_progress, encoders=names)
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
