"""The colored-shapes data set of the homework, generated deterministically from a seed.

Each image is 64x64 RGB uint8 on a black background with one flat-colored shape: a circle, a
rotated square or a rotated equilateral triangle (HOMEWORK.md, "Dataset"). The course shipped a
precomputed file that is not available; this generator draws an equivalent set and keeps the
ground-truth factors of every image:

=============  =======================================================================
``shape``      0 circle, 1 square, 2 triangle (:data:`SHAPES`)
``family``     hue family 0..7 (:data:`FAMILIES`): the "color" label of the analysis
``rgb``        the shape's color, uint8 ``[N, 3]``
``size``       width across in pixels: the circle's diameter, the square's and the triangle's side
``centre``     ``(x, y)`` in pixels, pixel ``(row i, column j)`` has its centre at ``(j + .5, i + .5)``
``rotation``   degrees; square in [0, 90), triangle in [0, 120) (their symmetries), circle 0
``location``   cell 0..8 of a 3x3 grid laid over the square where centres fall, ``3 * row + column``
=============  =======================================================================

The location grid spans the centres' range ([11, 52] px) rather than the whole 64 px image, so
the nine cells are equally likely (chance 1/9) instead of the middle cell holding a quarter.

Determinism: one ``numpy.random.default_rng(seed)`` draws a ``[n, 9]`` matrix of uniforms, one
row per image, so the first ``m`` images of a set of ``n`` equal a set of ``m`` drawn from the
same seed. Rasterisation is broadcast numpy over chunks of images (no per-pixel loop): 64,000
images take a few seconds on two cores.

Split (as in the course): the first 40,000 of 64,000 images train, the last 24,000 validate;
smaller sets keep the proportion 40 : 24 (:func:`split_sizes`).

Cache: :func:`load` keeps each generated set as ``.npz`` under ``$SIMGRADE_CACHE`` (else
``~/.cache/simgrade``), named by a hash of every parameter of the generator (:func:`cache_key`).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

VERSION = 1
"""Bumped whenever the generator changes what it draws: part of the cache key."""

IMAGE_SIZE = 64
N_IMAGES = 64_000
N_TRAIN_COURSE = 40_000

SHAPES = ("circle", "square", "triangle")
FAMILIES = ("red", "orange", "olive", "green", "teal", "blue", "violet", "magenta")
FAMILY_HUES = (0.0, 28.0, 56.0, 120.0, 178.0, 222.0, 270.0, 315.0)
"""Centre hue of each family in degrees (HSV)."""
HUE_JITTER = 7.0
"""Each color's hue is its family's centre plus Uniform(-7, 7) degrees: families never overlap."""
SATURATION = (0.5, 0.99)
VALUE = (0.4, 0.88)
SIZE = (15.0, 49.0)
CENTRE = (11.0, 52.0)

FACTORS = ("color", "shape", "location")
"""The factors of the nearest-neighbour analysis; ``color`` is the hue family."""


def params(image_size: int = IMAGE_SIZE) -> dict:
    """Every parameter that decides the images (the cache key hashes these plus n and seed)."""
    return {
        "version": VERSION, "image_size": image_size, "shapes": SHAPES, "families": FAMILIES,
        "family_hues": FAMILY_HUES, "hue_jitter": HUE_JITTER, "saturation": SATURATION,
        "value": VALUE, "size": SIZE, "centre": CENTRE,
    }


@dataclass
class Shapes:
    """A set of images with their ground-truth factors (arrays share their first axis)."""

    images: np.ndarray
    """uint8 ``[N, H, W, 3]``."""
    shape: np.ndarray
    """int64 ``[N]``: index into :data:`SHAPES`."""
    family: np.ndarray
    """int64 ``[N]``: index into :data:`FAMILIES`."""
    rgb: np.ndarray
    """uint8 ``[N, 3]``."""
    size: np.ndarray
    """float32 ``[N]``: pixels across."""
    centre: np.ndarray
    """float32 ``[N, 2]``: ``(x, y)`` in pixels."""
    rotation: np.ndarray
    """float32 ``[N]``: degrees."""
    location: np.ndarray
    """int64 ``[N]``: 3x3 grid cell of the centre."""

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> "Shapes":
        """The subset at ``index`` (a slice or an index array), every field alike."""
        return Shapes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def labels(self, factor: str) -> np.ndarray:
        """The integer label of a factor of :data:`FACTORS` (``color`` is the hue family)."""
        return {"color": self.family, "shape": self.shape, "location": self.location}[factor]

    def split(self, name: str) -> "Shapes":
        """``train`` (the first 40/64 of the set) or ``val`` (the rest)."""
        n_train, _ = split_sizes(len(self))
        if name == "train":
            return self[:n_train]
        if name == "val":
            return self[n_train:]
        raise ValueError(f"split is 'train' or 'val', not {name!r}")


def split_sizes(n: int) -> tuple[int, int]:
    """``(n_train, n_val)``: the course's 40,000 / 24,000, scaled to ``n`` images."""
    n_train = round(n * N_TRAIN_COURSE / N_IMAGES)
    return n_train, n - n_train


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB; ``h`` in [0, 1) turns, ``s, v`` in [0, 1]; returns float ``[N, 3]``."""
    h6 = (h % 1.0) * 6.0
    k = np.stack([(5 + h6) % 6, (3 + h6) % 6, (1 + h6) % 6], axis=-1)
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _factors(n: int, seed: int) -> dict[str, np.ndarray]:
    u = np.random.default_rng(seed).random((n, 9))
    shape = np.minimum((u[:, 0] * 3).astype(np.int64), 2)
    family = np.minimum((u[:, 1] * len(FAMILIES)).astype(np.int64), len(FAMILIES) - 1)
    hue = (np.asarray(FAMILY_HUES)[family] + (2 * u[:, 2] - 1) * HUE_JITTER) / 360.0
    sat = SATURATION[0] + u[:, 3] * (SATURATION[1] - SATURATION[0])
    val = VALUE[0] + u[:, 4] * (VALUE[1] - VALUE[0])
    rgb = np.round(hsv_to_rgb(hue, sat, val) * 255).astype(np.uint8)
    size = SIZE[0] + u[:, 5] * (SIZE[1] - SIZE[0])
    centre = CENTRE[0] + u[:, 6:8] * (CENTRE[1] - CENTRE[0])
    period = np.array([0.0, 90.0, 120.0])[shape]
    rotation = u[:, 8] * period
    cell = np.minimum(((centre - CENTRE[0]) / (CENTRE[1] - CENTRE[0]) * 3).astype(np.int64), 2)
    location = 3 * cell[:, 1] + cell[:, 0]
    return dict(shape=shape, family=family, rgb=rgb, size=size.astype(np.float32),
                centre=centre.astype(np.float32), rotation=rotation.astype(np.float32),
                location=location)


def _masks(shape, size, centre, rotation, image_size: int) -> np.ndarray:
    """Boolean ``[n, H, W]``: which pixel centres lie inside each image's shape."""
    scale = image_size / IMAGE_SIZE
    grid = ((np.arange(image_size, dtype=np.float32) + 0.5) / scale).astype(np.float32)
    mask = np.empty((len(shape), image_size, image_size), dtype=bool)
    for kind in range(len(SHAPES)):
        pick = np.flatnonzero(shape == kind)
        if len(pick) == 0:
            continue
        x = grid[None, None, :] - centre[pick, 0, None, None]   # [n, 1, W]
        y = grid[None, :, None] - centre[pick, 1, None, None]   # [n, H, 1]
        half = (size[pick] / 2)[:, None, None]
        if kind == 0:
            mask[pick] = x * x + y * y <= half * half
            continue
        theta = np.deg2rad(rotation[pick])[:, None, None]
        c, s = np.cos(theta), np.sin(theta)
        u, v = c * x + s * y, -s * x + c * y                     # coordinates in the shape's frame
        if kind == 1:
            mask[pick] = np.maximum(np.abs(u), np.abs(v)) <= half
            continue
        # Equilateral triangle of side `size`, a vertex pointing up at rotation 0: inside iff the
        # projection on each of its three outward edge normals is at most the inradius side/(2 sqrt 3).
        inradius = half / np.float32(np.sqrt(3.0))
        inside = v <= inradius                                   # bottom edge (y points down)
        for angle in (np.pi / 6, 5 * np.pi / 6):                 # the two upper edges
            inside &= np.float32(-np.cos(angle)) * u - np.float32(np.sin(angle)) * v <= inradius
        mask[pick] = inside
    return mask


def generate(n: int, seed: int = 0, image_size: int = IMAGE_SIZE, chunk: int = 2048) -> Shapes:
    """Draw ``n`` images from ``seed`` (no cache): see the module docstring."""
    f = _factors(n, seed)
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        mask = _masks(f["shape"][sl], f["size"][sl], f["centre"][sl], f["rotation"][sl], image_size)
        images[sl] = mask[..., None] * f["rgb"][sl, None, None, :]
    return Shapes(images=images, **f)


def cache_dir() -> Path:
    """``$SIMGRADE_CACHE``, else ``~/.cache/simgrade``."""
    root = os.environ.get("SIMGRADE_CACHE", "").strip()
    return Path(root) if root else Path.home() / ".cache" / "simgrade"


def cache_key(n: int, seed: int, image_size: int = IMAGE_SIZE) -> str:
    """A hash of every parameter of the generator, ``n`` and ``seed``."""
    blob = json.dumps({"n": n, "seed": seed, **params(image_size)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load(n: int = N_IMAGES, seed: int = 0, image_size: int = IMAGE_SIZE, cache: bool = True) -> Shapes:
    """The set of ``n`` images from ``seed``, read from the ``.npz`` cache or generated and cached."""
    if not cache:
        return generate(n, seed, image_size)
    path = cache_dir() / f"shapes-n{n}-s{seed}-{cache_key(n, seed, image_size)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Shapes(**{f.name: z[f.name] for f in fields(Shapes)})
        except (OSError, ValueError, KeyError):  # a torn or foreign file: regenerate it
            pass
    data = generate(n, seed, image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed: concurrent writers never expose a torn file.
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz.tmp", delete=False) as tmp:
        np.savez_compressed(tmp, **{f.name: getattr(data, f.name) for f in fields(Shapes)})
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    return data


def to_tensor(images: np.ndarray | torch.Tensor, device=None, image_size: int | None = None) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, S, S]`` on ``device``, area-downsampled to ``image_size``.

    Kept as uint8 so a whole set stays resident on the training device at a quarter of the
    float size; :func:`to_float` turns batches into model inputs.
    """
    x = torch.as_tensor(images).to(device).permute(0, 3, 1, 2).contiguous()
    if image_size is not None and image_size != x.shape[-1]:
        out = []
        for part in x.split(4096):  # area averaging: an antialiased smaller copy of the same scene
            out.append(F.interpolate(part.float(), size=(image_size, image_size), mode="area")
                       .round_().to(torch.uint8))
        x = torch.cat(out)
    return x


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1] (the range the augmentations work in)."""
    return x.float().div_(255.0)


def normalize(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] by ``(x - 0.5) / 0.5``, the course's input scaling."""
    return (x01 - 0.5) / 0.5
