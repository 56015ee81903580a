"""The course's Encoder and Decoder (HOMEWORK.md, "Models and training"), plus smaller CPU presets.

Encoder: ``Conv2d(kernel 4, stride 2, padding 1)`` layers halve the image down to 1x1 (six of
them for 64x64: channels 3 -> 32 -> 64 -> 128 -> 256 -> 512 -> latent), ReLU after each, flatten,
``Linear(latent, latent)``, optional L2 normalisation (the contrastive encoders are normalised,
the autoencoder's is not). Decoder: the mirror image, ``Linear`` then ``ConvTranspose2d`` layers
(kernel 4, stride 2, padding 1) back up to 3 channels, ReLU between layers and a linear output.

Smaller presets (for a 2-core CPU), by two knobs that keep the architecture's form:

- ``width``: multiplies the hidden channel counts (``width=0.25``: 8 -> 16 -> 32 -> 64 -> 128);
- ``image_size``: a power of two; the stack has ``log2(image_size)`` convolutions so the last
  one still outputs 1x1. At 32x32 the first (widest-resolution, 3 -> 32) layer is dropped and
  the others keep their channels. 32x32 images are the 64x64 scenes area-averaged 2x2
  (:func:`reference.data.to_tensor`): sizes 7.5-24.5 px, every factor still visible, a quarter of
  the pixels and about a quarter of the FLOPs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HIDDEN = (32, 64, 128, 256, 512)
"""The course encoder's hidden channels at 64x64, in order."""


def hidden_channels(image_size: int = 64, width: float = 1.0, channels=None) -> list[int]:
    """Hidden channel counts of the conv stack for ``image_size`` (a power of two, 4..64).

    ``channels`` given: those, one per hidden layer (``log2(image_size) - 1`` of them); else the
    course's, trimmed from the front for smaller images; either way multiplied by ``width``.
    """
    depth = int(round(math.log2(image_size)))
    if 2 ** depth != image_size or not 2 <= depth <= 6:
        raise ValueError(f"image_size must be a power of two in 4..64, not {image_size}")
    base = list(HIDDEN[len(HIDDEN) - (depth - 1):] if channels is None else channels)
    if len(base) != depth - 1:
        raise ValueError(f"{image_size}x{image_size} images need {depth - 1} hidden channel counts, got {base}")
    return [max(1, int(round(c * width))) for c in base]


class Encoder(nn.Module):
    """Images ``[B, 3, S, S]`` in [-1, 1] -> features ``[B, latent_dim]`` (unit vectors if ``normalize``)."""

    def __init__(self, latent_dim: int = 128, normalize: bool = True, image_size: int = 64, width: float = 1.0,
                 channels=None):
        super().__init__()
        chans = [3, *hidden_channels(image_size, width, channels), latent_dim]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(latent_dim, latent_dim))
        self.normalize = normalize
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return F.normalize(z, dim=-1) if self.normalize else z


class Decoder(nn.Module):
    """Features ``[B, latent_dim]`` -> images ``[B, 3, S, S]``: the encoder's mirror, linear output."""

    def __init__(self, latent_dim: int = 128, image_size: int = 64, width: float = 1.0, channels=None):
        super().__init__()
        chans = [latent_dim, *reversed(hidden_channels(image_size, width, channels)), 3]
        layers: list[nn.Module] = [nn.Linear(latent_dim, latent_dim), nn.ReLU(), nn.Unflatten(1, (latent_dim, 1, 1))]
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
            if i < len(chans) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def n_params(module: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
