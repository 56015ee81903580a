"""The one place that picks the compute device.

``SIMGRADE_DEVICE`` overrides the choice (``cpu``, ``cuda``, ``cuda:1``, ...); otherwise CUDA when
available, else CPU.
"""
import os

import torch


def pick_device() -> torch.device:
    """The device for training and reference computations: $SIMGRADE_DEVICE, else cuda if available, else cpu."""
    override = os.environ.get("SIMGRADE_DEVICE", "").strip()
    if override:
        return torch.device(override)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
