"""What an encoder's features keep: nearest-neighbour accuracy per factor, alignment and
uniformity, the diameters and margins of augmentation sets, and the course's neighbour figure.

1-NN accuracy is measured **train -> val**: each validation image is labelled with the factor of
its nearest training image (squared L2 distance between features) and compared with its own.
Chance is the accuracy of a neighbour drawn at random from the training split,
``sum_k p_train(k) p_val(k)`` (about 1/8 for color, 1/3 for shape, 1/9 for location).

The geometry measures come from :mod:`reference.metrics` (alignment, uniformity, diameter,
margin); this module only decides which features they are applied to. Alignment and uniformity
are Wang & Isola's and are defined for unit vectors: unnormalised features (the autoencoder's)
are L2-normalised first.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reference.augment import two_views
from reference.data import FACTORS, Shapes, normalize, to_float
from reference.metrics import alignment, diameter, margin, uniformity


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch inside the block only: the caller's random stream (e.g. a training run's
    augmentation draws, when this runs from a training callback) is restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


@torch.no_grad()
def features(enc: nn.Module, images: torch.Tensor, augment: nn.Module | None = None,
             batch_size: int = 1024, device: torch.device | None = None) -> torch.Tensor:
    """``enc`` on uint8 images ``[N, 3, S, S]`` (optionally augmented first) -> float32 ``[N, d]`` on the CPU."""
    device = device or next(enc.parameters()).device
    was_training = enc.training
    enc.eval()
    out = []
    for part in images.split(batch_size):
        x01 = to_float(part.to(device))
        if augment is not None:
            x01 = augment(x01)
        with _autocast(device):
            out.append(enc(normalize(x01)).float().cpu())
    enc.train(was_training)
    return torch.cat(out)


def pixels(images: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """uint8 images ``[N, 3, S, S]`` -> the model's input itself, flattened: float32 ``[N, 3 S S]`` in [-1, 1] on
    the images' device (the "raw pixels" baseline of nearest-neighbour retrieval: no encoder at all)."""
    return torch.cat([normalize(to_float(part)).flatten(1) for part in images.split(batch_size)])


def nearest(queries: torch.Tensor, keys: torch.Tensor, k: int = 1, chunk: int = 2048) -> torch.Tensor:
    """Indices ``[n_queries, k]`` of the ``k`` nearest rows of ``keys`` by squared L2 distance."""
    keys = keys.float()
    key_sq = keys.pow(2).sum(1)
    out = []
    for q in queries.float().split(chunk):
        d2 = q.pow(2).sum(1, keepdim=True) + key_sq[None] - 2 * q @ keys.T
        out.append(d2.topk(k, dim=1, largest=False).indices)
    return torch.cat(out)


def chance_level(train_labels: np.ndarray, val_labels: np.ndarray) -> float:
    """Accuracy of a neighbour drawn at random from train: ``sum_k p_train(k) p_val(k)``."""
    k = int(max(train_labels.max(), val_labels.max())) + 1
    p_train = np.bincount(train_labels, minlength=k) / len(train_labels)
    p_val = np.bincount(val_labels, minlength=k) / len(val_labels)
    return float(p_train @ p_val)


def knn_accuracy(train_features: torch.Tensor, train: Shapes, val_features: torch.Tensor, val: Shapes,
                 factors=FACTORS) -> dict[str, float]:
    """1-NN accuracy train -> val for each factor (module docstring)."""
    nn_index = nearest(val_features, train_features)[:, 0].cpu().numpy()
    return {f: float(np.mean(train.labels(f)[nn_index] == val.labels(f))) for f in factors}


def chance(train: Shapes, val: Shapes, factors=FACTORS) -> dict[str, float]:
    """:func:`chance_level` for each factor."""
    return {f: chance_level(train.labels(f), val.labels(f)) for f in factors}


@torch.no_grad()
def alignment_uniformity(enc: nn.Module, images: torch.Tensor, augments: list[nn.Module],
                         seed: int = 0) -> tuple[float, float]:
    """Alignment of two views of each image (mean over ``augments``) and uniformity of the
    images' own features; features L2-normalised first (``t = 2``, ``alpha = 2``)."""
    device = next(enc.parameters()).device
    aligns = []
    with _seeded(seed, device):
        for augment in augments:
            augment = augment.to(device)
            z1, z2 = [], []
            for part in images.split(512):
                v1, v2 = two_views(augment, to_float(part.to(device)))
                z1.append(_normalised(enc, v1))
                z2.append(_normalised(enc, v2))
            aligns.append(float(alignment(torch.cat(z1), torch.cat(z2), alpha=2)))
    z = F.normalize(features(enc, images), dim=1)
    return float(np.mean(aligns)), float(uniformity(z, t=2))


def _normalised(enc: nn.Module, x01: torch.Tensor) -> torch.Tensor:
    was_training = enc.training
    enc.eval()
    with _autocast(x01.device):
        z = enc(normalize(x01)).float()
    enc.train(was_training)
    return F.normalize(z, dim=1).cpu()


@torch.no_grad()
def set_geometry(enc: nn.Module, images: torch.Tensor, augment: nn.Module, views: int = 32,
                 seed: int = 0) -> dict:
    """Diameters and margins of the augmentation sets ``S_i`` of ``images`` (question 4(b)).

    Each ``S_i`` is represented by ``views`` augmented views of image i (a sample of its
    support). Returns per-set diameters, the margins ``margin_{i->j}`` (i != j), their summary
    statistics, and ``separated``: the fraction of ordered pairs (i, j) whose margin exceeds
    both diameters (Q4(c): then nearest-neighbour retrieval between them cannot err).
    Features are L2-normalised first, so the scale is the unit sphere's for every encoder.
    """
    device = next(enc.parameters()).device
    augment = augment.to(device)
    sets = []
    with _seeded(seed, device):
        for img in images:
            x01 = to_float(img.to(device)).unsqueeze(0).expand(views, -1, -1, -1).contiguous()
            sets.append(_normalised(enc, augment(x01)))
    n = len(sets)
    diam = torch.stack([diameter(s) for s in sets])
    marg = torch.full((n, n), float("nan"))
    for i in range(n):
        for j in range(n):
            if i != j:
                marg[i, j] = margin(sets[i], sets[j])
    off = ~torch.eye(n, dtype=torch.bool)
    sep = (marg > torch.maximum(diam[:, None], diam[None, :]))[off]
    return {
        "diameters": diam.tolist(),
        "mean_diameter": float(diam.mean()),
        "mean_margin": float(marg[off].mean()),
        "min_margin": float(marg[off].min()),
        "separated": float(sep.float().mean()),
    }


def neighbour_figure(query_features: torch.Tensor, display: np.ndarray, path: str | Path, title: str = "",
                     n_queries: int = 8, k: int = 10, seed: int = 0) -> list[list[int]]:
    """The course's nearest-neighbour figure, as a PNG at ``path``.

    ``query_features [N, d]`` are the features of the first N images of a split (the course
    uses N = 24,000) and ``display`` their uint8 ``[N, H, W, 3]`` images. ``n_queries`` images
    drawn with ``seed`` are the rows; each row shows the ``k`` nearest images by squared L2
    distance, the query itself first (its own nearest neighbour). Returns the index grid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    queries = np.random.default_rng(seed).choice(len(query_features), n_queries, replace=False)
    grid = nearest(query_features[torch.as_tensor(queries)], query_features, k=k).tolist()
    fig, axes = plt.subplots(n_queries, k, figsize=(k * 0.9, n_queries * 0.95 + 0.4), squeeze=False)
    for r, row in enumerate(grid):
        for c, index in enumerate(row):
            ax = axes[r][c]
            ax.imshow(display[index], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                for side in ax.spines.values():
                    side.set_edgecolor("white"), side.set_linewidth(2)
    for c in range(k):
        axes[0][c].set_title("query" if c == 0 else f"NN {c + 1}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.patch.set_facecolor("0.85")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return grid
