"""The homework's augmentations A, B and C (HOMEWORK.md), batched on the training device with kornia.

The course wrote them with torchvision's per-image transforms, which is what made its epochs take
minutes; kornia's modules draw independent parameters for every image of a batch and run on any
device, so a whole batch of views is one call. Each pipeline takes float images in [0, 1]
``[B, 3, S, S]`` and returns the same shape; the course's [-1, 1] scaling
(:func:`reference.data.normalize`) comes after, so padding and rotation fill with black (0), the
background.

Course (torchvision names) -> here:

- A: ``RandomGrayscale(p=0.2)``, ``ColorJitter(brightness=0.3, contrast=0.3, saturation=0.9, hue=0.5)``
  -> ``kornia.augmentation.RandomGrayscale`` and ``ColorJitter`` (kornia's ColorJitter is the port
  of torchvision's: same factor ranges, hue in turns, random order of the four steps). ``hue=0.5``
  draws a hue shift anywhere on the wheel: color is destroyed, the outline is kept.
- B: ``Pad(24)``, ``RandomRotation((0, 360))``, ``RandomResizedCrop(64, scale=(0.2, 0.6), ratio=(1, 1), nearest)``
  -> zero padding with ``torch.nn.functional.pad`` and kornia's ``RandomRotation`` and
  ``RandomResizedCrop``: the shape moves, turns and changes scale; its colour is untouched.
- C: ``Pad(16)``, ``RandomRotation((0, 360))``, with p = 0.7 both ``RandomAffine(translate=(0.3, 0.3), shear=80)``
  and ``RandomPerspective(0.6, p=1)``, then ``RandomResizedCrop(64, scale=(0.4, 0.8), ratio=(0.2, 5), nearest)``,
  ``RandomRotation((0, 360))``: the outline is sheared, warped and stretched (a square can become
  a thin parallelogram or a triangle-like quadrilateral): shape and location are destroyed,
  colour kept.

Nearest-neighbour resampling is kept where the course used it (torchvision's default for
rotation and affine, the explicit ``nearest`` of the crops) so that foreground pixels keep their
exact colour; the perspective warp is bilinear as in torchvision (it blends colours only along
the outline).

``image_size`` other than 64 (the CPU presets downsample the data) scales the paddings with
the image, so every pipeline sees the same scene geometry at any resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import kornia.augmentation as K

NAMES = ("A", "B", "C")


class Pad(nn.Module):
    """``torchvision.transforms.Pad(p)`` with zeros (black, the background)."""

    def __init__(self, padding: int):
        super().__init__()
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (self.padding,) * 4) if self.padding else x


class RandomApplyAll(nn.Module):
    """``torchvision.transforms.RandomApply(transforms, p)``, per image: with probability ``p``
    an image goes through all of ``transforms`` in order, otherwise through none.

    The transforms run on the whole batch and ``torch.where`` keeps each image's pick: no
    boolean indexing, so no host-device synchronisation on a GPU.
    """

    def __init__(self, p: float, *transforms: nn.Module):
        super().__init__()
        self.p = p
        self.transforms = nn.Sequential(*transforms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pick = torch.rand(len(x), 1, 1, 1, device=x.device) < self.p
        return torch.where(pick, self.transforms(x), x)


def _scaled(pixels: int, image_size: int) -> int:
    return round(pixels * image_size / 64)


def augmentation(name: str, image_size: int = 64) -> nn.Module:
    """Pipeline ``A``, ``B`` or ``C`` for images of ``image_size`` pixels (module docstring)."""
    s = image_size
    if name == "A":
        return nn.Sequential(
            K.RandomGrayscale(p=0.2),
            K.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.9, hue=0.5, p=1.0),
        )
    if name == "B":
        return nn.Sequential(
            Pad(_scaled(24, s)),
            K.RandomRotation(degrees=(0.0, 360.0), p=1.0, resample="nearest"),
            K.RandomResizedCrop((s, s), scale=(0.2, 0.6), ratio=(1.0, 1.0), resample="nearest"),
        )
    if name == "C":
        return nn.Sequential(
            Pad(_scaled(16, s)),
            K.RandomRotation(degrees=(0.0, 360.0), p=1.0, resample="nearest"),
            RandomApplyAll(
                0.7,
                K.RandomAffine(degrees=0.0, translate=(0.3, 0.3), shear=80.0, p=1.0, resample="nearest"),
                K.RandomPerspective(distortion_scale=0.6, p=1.0),
            ),
            K.RandomResizedCrop((s, s), scale=(0.4, 0.8), ratio=(0.2, 5.0), resample="nearest"),
            K.RandomRotation(degrees=(0.0, 360.0), p=1.0, resample="nearest"),
        )
    raise ValueError(f"augmentation is one of {NAMES}, not {name!r}")


def two_views(augment: nn.Module, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of every image of ``x01``, drawn in one batched call."""
    both = augment(torch.cat([x01, x01]))
    return both[: len(x01)], both[len(x01):]
