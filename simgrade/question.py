"""What a graded code question is: the types a question file (``answers/questions/*.py``) is written in.

The engine (discover, sandbox, compare, diagnose, score, handout, batch, reports) knows no homework:
it loops over the registered :class:`CodeQuestion` objects. A question file is course content, trusted
TA code: it names the function, its arguments by kind, the reference, the inputs, the properties with
their points and the known mistakes (see ``docs/NEW_QUESTION.md``). Nothing here names a homework.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

import numpy as np

# ------------------------------------------------------------------------------- arguments, by kind


@dataclass(frozen=True)
class Encoder:
    """An argument: a small network (flatten, Linear, tanh, Linear) from images ``[B, C, H, W]`` to features ``[B, d]``."""

    name: str
    """The parameter's name in the student's function (and the prefix of its parameters' names in feedback)."""
    unit: bool = False
    """Its outputs are unit vectors (every row divided by its norm)."""


@dataclass(frozen=True)
class Decoder:
    """An argument: a small network (Linear, tanh, Linear) from the encoder's features ``[B, d]`` back to images."""

    name: str
    """The parameter's name in the student's function."""


@dataclass(frozen=True)
class Images:
    """An argument: a float batch of images ``[B, C, H, W]``, uniform in [-1, 1]."""

    name: str
    """The parameter's name in the student's function."""


@dataclass(frozen=True)
class PositivePair:
    """Two arguments: two views of the same B images; the second is the first plus Gaussian noise."""

    first: str
    """The parameter's name of the first view (uniform in [-1, 1])."""
    second: str
    """The parameter's name of the second view, in the same order (row i is the positive of row i)."""
    noise: float = 1.0
    """Standard deviation of the noise added to the first view to make the second."""
    aligned_noise: float = 1e-3
    """The noise on inputs marked ``aligned`` (well-aligned positive pairs)."""


@dataclass(frozen=True)
class Scalar:
    """An argument: a Python float in ``[low, high]``."""

    name: str
    """The parameter's name in the student's function."""
    low: float
    """Smallest value any input may give it."""
    high: float
    """Largest value any input may give it."""
    typical: float
    """Its value on an input that does not set it (e.g. the course's own value)."""


Argument = Union[Encoder, Decoder, Images, PositivePair, Scalar]
"""One argument kind (a :class:`PositivePair` stands for two consecutive parameters)."""
ARGUMENT_KINDS = (Encoder, Decoder, Images, PositivePair, Scalar)
"""Every argument kind the engine can build."""


def parameter_names(arguments: Sequence[Argument]) -> tuple[str, ...]:
    """The student's function's parameters, in order."""
    names: list[str] = []
    for argument in arguments:
        names += [argument.first, argument.second] if isinstance(argument, PositivePair) else [argument.name]
    return tuple(names)


# ------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Input:
    """One fixed input shape of a battery; its numbers (weights, batches) come from the grading's seed."""

    batch: int
    """Batch size B."""
    dim: int
    """Feature dimension d of the encoder's output."""
    dtype: str = "float64"
    """``float32`` or ``float64``: of the batches and the networks."""
    scalars: Mapping[str, float] = field(default_factory=dict)
    """Value of each :class:`Scalar` argument (an unset one takes its ``typical`` value)."""
    aligned: bool = False
    """Positive pairs are well aligned (the second view is the first plus ``aligned_noise``)."""


@dataclass(frozen=True)
class Search:
    """Where hypothesis searches for (and shrinks to) the smallest input on which a wrong value differs."""

    batch: tuple[int, int] = (1, 64)
    """Smallest and largest batch size B."""
    dim: tuple[int, int] = (1, 16)
    """Smallest and largest feature dimension d."""
    dtypes: tuple[str, ...] = ("float64", "float32")
    """The dtypes, simplest first."""
    scalars: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """Values tried for each :class:`Scalar` argument, simplest first (an unlisted one keeps its ``typical`` value)."""
    calls: int = 150
    """At most this many calls of the student's function."""
    seconds: float = 20.0
    """At most this much wall time."""


@dataclass(frozen=True)
class Stress:
    """A property of the question's own, beyond the engine's: right on special inputs (e.g. extreme values)."""

    name: str
    """The property's name, used in ``points`` (e.g. ``finite_at_extremes``)."""
    title: str
    """The test's title in the results."""
    holds: str
    """What the feedback says when it holds (which inputs were tried)."""
    inputs: Sequence[Input]
    """The inputs it is judged on (not used to recognise formula mistakes)."""
    tolerance: tuple[float, float] = (1e-3, 1e-3)
    """(rtol, atol) on the value."""


# ----------------------------------------------------------------------------------------- mistakes


@dataclass(frozen=True)
class Mistake:
    """A known mistake: how to recognise it by behaviour and how to fix it (what it earns is the question's rubric)."""

    name: str
    """Short name shown to the student (``sign flipped``)."""
    fix: str
    """What to change: one sentence the student can act on."""
    formula: Callable | None = None
    """The wrong function itself, with the reference's arguments (called on float64 inputs under no_grad):
    named when the student's values equal it on every input tried."""
    symptom: Callable | None = None
    """A predicate on the whole comparison (:class:`simgrade.compare.Comparison`), for mistakes that are no formula."""
    gradient: Callable | None = None
    """A function with the reference's value but other gradients (e.g. one branch detached), with the
    reference's arguments: named when the value is right and the student's gradients equal its gradients."""
    credit: float | None = None
    """The points the whole question earns when this mistake is named (set on load from the question's
    :attr:`CodeQuestion.rubric`; None: the properties alone decide)."""
    evidence: bool = True
    """Being named shows the student's numbers (a formula's or gradient's match, a symptom that checks the
    loss's values): only then may its rubric line raise the grade above what the properties earn."""
    question: str = ""
    """The id of the question it belongs to (set on load; empty for a generic symptom not yet bound to one)."""

    def as_data(self) -> dict:
        """The mistake as plain data, for results: ``{name, fix, credit}`` (credit None: scored by its properties)."""
        return {"name": self.name, "fix": self.fix, "credit": self.credit}


SCALED = "the right loss times a factor"
"""The rubric's name for the reference times a factor of :func:`simgrade.mistakes._factors` (e.g. B/(B-1)); a
known mistake times such a factor is named after it and earns at most its credit."""


def not_finite_on(stress: str) -> Callable:
    """A symptom: right on the whole battery, but inf or NaN on some input of the :class:`Stress` property ``stress``."""

    def symptom(comparison) -> bool:
        battery = [o for o in comparison.observations if not o.case.check]
        right = bool(battery) and all(o.value_matches() for o in battery)
        return right and any(o.scalar is not None and not np.isfinite(o.scalar)
                             for o in comparison.observations if o.case.check == stress)

    return symptom


# ------------------------------------------------------------------------------------------ question


@dataclass(frozen=True)
class Notebook:
    """Where the course notebook holds the function: the lines a student writes inside a training function."""

    training: str
    """The training function whose FIXME lines compute the function's value."""
    locals: tuple[str, ...]
    """The loop variables the grader binds (moved to the device just before the student's lines)."""
    assigns: str
    """The name the student's lines assign the value to (the wrapper returns it; lines after its last
    assignment are not graded, and a training loop whose lines assign it is preferred)."""
    bound: tuple[str, ...] = ()
    """Names the notebook's code reads that the grader binds itself, to the torch device the inputs are
    on (the CPU in the sandbox), e.g. the notebook's global that names the GPU: the submission's own
    assignments to them (module level or in the training function) are never taken."""


@dataclass(frozen=True)
class CodeQuestion:
    """A question graded by running the student's function against the reference, property by property."""

    question: str
    """Result-question id (CONTRACT.md); its tests are numbered ``<question>.<k>``."""
    function: str
    """The function the handout asks for."""
    title: str
    """What it computes, for the results and the report."""
    arguments: tuple[Argument, ...]
    """The function's arguments by kind, in order."""
    reference: Callable
    """The staff implementation, called with the same arguments (float64)."""
    points: Mapping[str, float]
    """Points per property, in the order of the tests: ``value``, ``gradient``, ``form``, ``inputs_untouched``
    and the names of :attr:`stress`."""
    battery: tuple[Input, ...]
    """The fixed inputs of the value, gradient, form and inputs properties (and of formula mistakes)."""
    search: Search = Search()
    """The counterexample search."""
    stress: tuple[Stress, ...] = ()
    """Properties of this question's own."""
    mistakes: tuple[Mistake, ...] = ()
    """Known mistakes of this function (the engine adds the generic symptoms after them)."""
    rubric: Mapping[str, float] = field(default_factory=dict)
    """The staff rubric: the points the whole question earns when a mistake (by name: one of :attr:`mistakes`,
    a generic symptom of :mod:`simgrade.mistakes`, or :data:`SCALED`) is named. Every own mistake needs a line;
    a generic symptom without one is scored by its properties. With several named, the lowest line counts."""
    stub: str = ""
    """The handout's text of the function: signature, docstring stating the contract, a FIXME raise."""
    imports: tuple[str, ...] = ("import torch", "import torch.nn.functional as F")
    """Import lines the stub needs at the top of the handout module."""
    notebook: Notebook | None = None
    """Where the course notebook holds the function, if it does."""
    source: str = ""
    """The question file (set on load), for error messages."""

    @property
    def parameters(self) -> tuple[str, ...]:
        """The function's parameter names, in order."""
        return parameter_names(self.arguments)

    @property
    def scalars(self) -> dict[str, Scalar]:
        """The :class:`Scalar` arguments by name."""
        return {a.name: a for a in self.arguments if isinstance(a, Scalar)}

    @property
    def total(self) -> float:
        """The question's points: the sum of its properties' points."""
        return float(sum(self.points.values()))

    @property
    def properties(self) -> tuple[str, ...]:
        """Every property this question can score: the engine's and its own."""
        return ENGINE_PROPERTIES + tuple(s.name for s in self.stress)


ENGINE_PROPERTIES = ("value", "gradient", "form", "inputs_untouched")
"""The properties every code question has (see :mod:`simgrade.compare`)."""
