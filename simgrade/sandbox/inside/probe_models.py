"""The small networks that the grader feeds to a student's loss, built from plain arrays.

Both sides build them from the same arrays: the sandbox to call the student's function, the
grader to compute the reference. They have no BatchNorm or dropout, like the course's encoder.

    ProbeEncoder: [B, 3, H, W] -> flatten -> Linear(3HW, h) -> tanh -> Linear(h, d) [-> unit norm]
    ProbeDecoder: [B, k] -> Linear(k, h) -> tanh -> Linear(h, 3HW) -> [B, 3, H, W]
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class ProbeEncoder(nn.Module):
    """A two-layer encoder; with ``normalize`` its outputs are unit vectors."""

    def __init__(self, in_features: int, hidden: int, out_features: int, normalize: bool):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, out_features))
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return F.normalize(z, dim=1) if self.normalize else z


class ProbeDecoder(nn.Module):
    """A two-layer decoder back to images ``[B, 3, H, W]``."""

    def __init__(self, in_features: int, hidden: int, image_shape: tuple[int, int, int]):
        super().__init__()
        channels, height, width = image_shape
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, channels * height * width),
            nn.Unflatten(1, (channels, height, width)),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _load(module: nn.Module, prefix: str, arrays: dict[str, np.ndarray], dtype: torch.dtype) -> nn.Module:
    state = {name: torch.from_numpy(np.array(arrays[f"{prefix}.{name}"])).to(dtype) for name in module.state_dict()}
    module.load_state_dict(state, assign=True)  # the module was built on "meta": no random init to pay for
    return module


def build_encoder(spec: dict, arrays: dict[str, np.ndarray], dtype: torch.dtype) -> ProbeEncoder:
    """The encoder described by ``spec`` (sizes) with the weights in ``arrays['enc.*']``."""
    with torch.device("meta"):
        module = ProbeEncoder(int(spec["in"]), int(spec["hidden"]), int(spec["out"]), bool(spec["normalize"]))
    return _load(module, "enc", arrays, dtype)


def build_decoder(spec: dict, arrays: dict[str, np.ndarray], dtype: torch.dtype) -> ProbeDecoder:
    """The decoder described by ``spec`` with the weights in ``arrays['dec.*']``."""
    with torch.device("meta"):
        module = ProbeDecoder(int(spec["in"]), int(spec["hidden"]), tuple(int(s) for s in spec["image"]))
    return _load(module, "dec", arrays, dtype)


def linear_layers(spec: dict, kind: str) -> list[tuple[int, int]]:
    """(in, out) of each Linear layer of the probe network ``kind`` (``enc`` or ``dec``), in state-dict order."""
    if kind == "enc":
        return [(int(spec["in"]), int(spec["hidden"])), (int(spec["hidden"]), int(spec["out"]))]
    pixels = int(np.prod(spec["image"]))
    return [(int(spec["in"]), int(spec["hidden"])), (int(spec["hidden"]), pixels)]


LAYER_NAMES = ("net.1", "net.3")
DECODER_LAYER_NAMES = ("net.0", "net.2")
