"""The inputs the grader feeds to a student's function: small random networks, batches and scalars, from a seed.

A :class:`Case` is plain numbers (batch size, feature dimension, dtype, scalar values, seed); from it
and its question's arguments (:mod:`simgrade.question`) the grader builds both the message for the
sandbox (typed arguments: ``{name, kind, ...}``) and, with the same arrays, the torch objects on
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

from simgrade.question import Decoder, Encoder, Images, Input, PositivePair, Scalar
from simgrade.questions import question_of
from simgrade.sandbox.inside.probe_models import build_module, linear_layers

if TYPE_CHECKING:
    from simgrade.discover import Submission

IMAGE = (3, 4, 4)
HIDDEN = 8


@dataclass(frozen=True)
class Case:
    """One input to a student's function."""

    function: str
    """The graded function's name (its question gives the arguments)."""
    batch: int
    """Batch size B."""
    dim: int
    """Feature (latent) dimension d of the encoder's output."""
    dtype: str = "float64"
    """``float32`` or ``float64``: of the inputs and the networks."""
    scalars: tuple[tuple[str, float], ...] = ()
    """(name, value) of the scalar arguments this case sets; the others take their ``typical`` value."""
    seed: int = 0
    """Seeds the weights and the batches: the grading's seed (:func:`submission_seed`) plus the case's index."""
    aligned: bool = False
    """Positive pairs are well aligned: the second view is the first plus tiny noise."""
    check: str = ""
    """The question's own property (a :class:`~simgrade.question.Stress`) this case belongs to; empty for the battery."""

    @classmethod
    def of(cls, function: str, shape: Input, seed: int, check: str = "") -> "Case":
        """The case of a question's :class:`~simgrade.question.Input`."""
        return cls(function, shape.batch, shape.dim, shape.dtype, tuple(sorted(shape.scalars.items())), seed,
                   shape.aligned, check)

    def scalar_values(self) -> dict[str, float]:
        """Every scalar argument's value on this case, in the order of the arguments."""
        given = dict(self.scalars)
        return {name: float(given.get(name, s.typical)) for name, s in question_of(self.function).scalars.items()}

    def describe(self) -> str:
        """The case in words, for feedback."""
        text = f"B={self.batch}, d={self.dim}"
        text += "".join(f", {name}={value:g}" for name, value in self.scalar_values().items())
        text += ", well-aligned positive pairs" if self.aligned else ""
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
    """The sandbox call (JSON part): ``dtype`` and the typed ``arguments``."""
    arrays: dict[str, np.ndarray]
    """Weights and batches (npy part), in the case's dtype."""

    def reference_inputs(self) -> tuple[dict[str, torch.nn.Module], dict[str, torch.Tensor]]:
        """Fresh float64 copies of the networks and batches, for the reference and the mutants."""
        modules, batches = {}, {}
        for spec in self.message["arguments"]:
            if spec["kind"] == "tensor":
                batches[spec["name"]] = torch.from_numpy(np.array(self.arrays[spec["name"]], dtype=np.float64))
            elif spec["kind"] != "scalar":
                modules[spec["name"]] = build_module(spec, self.arrays, torch.float64)
        return modules, batches

    def arguments(self, modules: dict, batches: dict) -> list:
        """Positional arguments of the student's function, from networks and batches."""
        values = {**modules, **batches, **{s["name"]: s["value"] for s in self.message["arguments"] if s["kind"] == "scalar"}}
        return [values[spec["name"]] for spec in self.message["arguments"]]


def _linear_weights(rng: np.random.Generator, spec: dict, dtype: str) -> dict:
    """PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)), drawn with numpy."""
    arrays = {}
    for layer, fan_in, fan_out in linear_layers(spec):
        bound = 1 / np.sqrt(fan_in)
        arrays[f"{spec['name']}.{layer}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype)
        arrays[f"{spec['name']}.{layer}.bias"] = rng.uniform(-bound, bound, fan_out).astype(dtype)
    return arrays


def make_probe(case: Case) -> Probe:
    """Build the arguments of ``case`` (rounded to its dtype, so both sides see the same numbers), in argument order."""
    question = question_of(case.function)
    scalars = case.scalar_values()
    rng = np.random.default_rng([case.seed, case.batch, case.dim, *(int(v * 1e6) for v in scalars.values()), case.aligned])
    pixels = int(np.prod(IMAGE))
    specs, arrays = [], {}
    for argument in question.arguments:
        if isinstance(argument, Encoder):
            spec = {"name": argument.name, "kind": "encoder", "in": pixels, "hidden": HIDDEN, "out": case.dim,
                    "normalize": argument.unit}
            arrays.update(_linear_weights(rng, spec, case.dtype))
            specs.append(spec)
        elif isinstance(argument, Decoder):
            spec = {"name": argument.name, "kind": "decoder", "in": case.dim, "hidden": HIDDEN, "image": list(IMAGE)}
            arrays.update(_linear_weights(rng, spec, case.dtype))
            specs.append(spec)
        elif isinstance(argument, Images):
            arrays[argument.name] = rng.uniform(-1, 1, (case.batch, *IMAGE)).astype(case.dtype)
            specs.append({"name": argument.name, "kind": "tensor"})
        elif isinstance(argument, PositivePair):
            first = rng.uniform(-1, 1, (case.batch, *IMAGE))
            noise = argument.aligned_noise if case.aligned else argument.noise
            arrays[argument.first] = first.astype(case.dtype)
            arrays[argument.second] = (first + noise * rng.normal(size=first.shape)).astype(case.dtype)
            specs += [{"name": argument.first, "kind": "tensor"}, {"name": argument.second, "kind": "tensor"}]
        elif isinstance(argument, Scalar):
            specs.append({"name": argument.name, "kind": "scalar", "value": scalars[argument.name]})
    return Probe(case, {"dtype": case.dtype, "arguments": specs}, arrays)


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
