"""The inputs the grader feeds to a student's loss: small random networks and batches, from a seed.

A :class:`Case` is plain numbers (batch size, feature dimension, temperature, dtype, seed); from it
the grader builds both the message for the sandbox and, with the same arrays, the torch objects on
which it computes the reference. Everything is deterministic in the case. The seeds of a grading
come from :func:`submission_seed`: the same submission always sees the same numbers, a changed one
new numbers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from simgrade.sandbox.inside.probe_models import (DECODER_LAYER_NAMES, LAYER_NAMES, build_decoder, build_encoder,
                                                  linear_layers)

if TYPE_CHECKING:
    from simgrade.discover import Submission

IMAGE = (3, 4, 4)
HIDDEN = 8
ARGUMENTS = {
    "autoencoder_loss": ["enc", "dec", "batch"],
    "contrastive_loss": ["enc", "batch1", "batch2", "tau"],
}


@dataclass(frozen=True)
class Case:
    """One input to a student's function."""

    function: str
    """``autoencoder_loss`` or ``contrastive_loss``."""
    batch: int
    """Batch size B."""
    dim: int
    """Feature (latent) dimension d of the encoder's output."""
    dtype: str = "float64"
    """``float32`` or ``float64``: of the inputs and the networks."""
    tau: float = 0.5
    """Temperature (contrastive only)."""
    seed: int = 0
    """Seeds the weights and the batches: the grading's seed (:func:`submission_seed`) plus the case's index."""
    aligned: bool = False
    """Contrastive only: the second view is the first plus tiny noise, so positive logits are near 1/tau."""

    def describe(self) -> str:
        """The case in words, for feedback."""
        text = f"B={self.batch}, d={self.dim}"
        if self.function == "contrastive_loss":
            text += f", tau={self.tau:g}" + (", well-aligned positive pairs" if self.aligned else "")
        return f"{text}, {self.dtype}"

    def with_batch(self, batch: int) -> "Case":
        """The same case with another batch size."""
        return replace(self, batch=batch)


@dataclass
class Probe:
    """A case made concrete: the arrays sent to the sandbox and the grader's own torch objects."""

    case: Case
    """The case."""
    message: dict
    """The sandbox call (JSON part)."""
    arrays: dict[str, np.ndarray]
    """Weights and batches (npy part), in the case's dtype."""

    def reference_inputs(self) -> tuple[dict[str, torch.nn.Module], dict[str, torch.Tensor]]:
        """Fresh float64 copies of the networks and batches, for the reference and the mutants."""
        modules = {"enc": build_encoder(self.message["enc"], self.arrays, torch.float64)}
        if "dec" in self.message:
            modules["dec"] = build_decoder(self.message["dec"], self.arrays, torch.float64)
        batches = {name: torch.from_numpy(np.array(self.arrays[name], dtype=np.float64)) for name in self.message["inputs"]}
        return modules, batches

    def arguments(self, modules: dict, batches: dict) -> list:
        """Positional arguments of the student's function, from networks and batches."""
        values = {**modules, **batches, "tau": self.case.tau}
        return [values[name] for name in ARGUMENTS[self.case.function]]


def _linear_weights(rng: np.random.Generator, spec: dict, kind: str, names: tuple[str, ...], dtype: str) -> dict:
    """PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)), drawn with numpy."""
    arrays = {}
    for name, (fan_in, fan_out) in zip(names, linear_layers(spec, kind)):
        bound = 1 / np.sqrt(fan_in)
        arrays[f"{kind}.{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype)
        arrays[f"{kind}.{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(dtype)
    return arrays


def make_probe(case: Case) -> Probe:
    """Build the networks and batches of ``case`` (rounded to its dtype, so both sides see the same numbers)."""
    rng = np.random.default_rng([case.seed, case.batch, case.dim, int(case.tau * 1e6), case.aligned])
    pixels = int(np.prod(IMAGE))
    normalize = case.function == "contrastive_loss"
    message = {"dtype": case.dtype, "enc": {"in": pixels, "hidden": HIDDEN, "out": case.dim, "normalize": normalize},
               "arguments": ARGUMENTS[case.function]}
    arrays = _linear_weights(rng, message["enc"], "enc", LAYER_NAMES, case.dtype)
    if case.function == "autoencoder_loss":
        message["dec"] = {"in": case.dim, "hidden": HIDDEN, "image": list(IMAGE)}
        arrays.update(_linear_weights(rng, message["dec"], "dec", DECODER_LAYER_NAMES, case.dtype))
        message["inputs"] = ["batch"]
        arrays["batch"] = rng.uniform(-1, 1, (case.batch, *IMAGE)).astype(case.dtype)
    else:
        message["inputs"] = ["batch1", "batch2"]
        message["tau"] = case.tau
        first = rng.uniform(-1, 1, (case.batch, *IMAGE))
        noise = 1e-3 if case.aligned else 1.0
        arrays["batch1"] = first.astype(case.dtype)
        arrays["batch2"] = (first + noise * rng.normal(size=first.shape)).astype(case.dtype)
    return Probe(case, message, arrays)


def submission_seed(submission: Submission, function: str) -> int:
    """A 64-bit seed from what the sandbox runs for ``function``: its program and every file of the submission.

    The graded inputs are drawn from it, so an expected value shown in feedback is of no use to a
    resubmission (any change, to the code or to a file it could read, gives new inputs), while the
    same submission always gets the same inputs, hence the same grade.
    """
    program = submission.programs.get(function)
    parts = [function.encode(), *(c.source.encode() for c in (program.chunks if program else []))]
    for path in sorted(submission.files):
        parts += [path.encode(), submission.files[path]]
    digest = hashlib.sha256()
    for part in parts:  # length-prefixed, so no two different lists of parts hash alike
        digest.update(len(part).to_bytes(8, "little") + part)
    return int.from_bytes(digest.digest()[:8], "little")
