"""The small networks (argument kinds `encoder` and `decoder`) the grader feeds to a student's function, built from plain arrays.

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


MODULE_KINDS = ("encoder", "decoder")
"""The argument kinds that are networks (see :func:`build_module`)."""


def build_module(spec: dict, arrays: dict[str, np.ndarray], dtype: torch.dtype) -> nn.Module:
    """The network of an argument ``spec`` (``{name, kind, sizes}``) with the weights in ``arrays['<name>.*']``."""
    with torch.device("meta"):
        if spec["kind"] == "encoder":
            module = ProbeEncoder(int(spec["in"]), int(spec["hidden"]), int(spec["out"]), bool(spec["normalize"]))
        elif spec["kind"] == "decoder":
            module = ProbeDecoder(int(spec["in"]), int(spec["hidden"]), tuple(int(s) for s in spec["image"]))
        else:
            raise ValueError(f"not a network: {spec['kind']!r}")
    return _load(module, str(spec["name"]), arrays, dtype)


def linear_layers(spec: dict) -> list[tuple[str, int, int]]:
    """(layer name, in, out) of each Linear layer of the network of argument ``spec``, in state-dict order."""
    if spec["kind"] == "encoder":
        return [("net.1", int(spec["in"]), int(spec["hidden"])), ("net.3", int(spec["hidden"]), int(spec["out"]))]
    pixels = int(np.prod(spec["image"]))
    return [("net.0", int(spec["in"]), int(spec["hidden"])), ("net.2", int(spec["hidden"]), pixels)]
