"""Compare a student's function with its question's reference, property by property.

The student's function runs in the sandbox on its question's battery: :class:`~simgrade.probes.Case`
of fixed shapes whose numbers (weights, batches) are drawn from the grading's seed, a digest of the
submission (:func:`~simgrade.probes.submission_seed`); the reference runs here on the same numbers
in float64. Properties (those a question scores are the keys of its ``points``):

    value             the returned value equals the reference on every battery input
    gradient          gradients w.r.t. every parameter of every network argument equal the reference's
    form              a plain 0-dim tensor whose gradients (returned, checked here) are the reference's
    inputs_untouched  batches and parameters are not modified in place
    <stress name>     a question's own: finite and right on its special inputs (:class:`~simgrade.question.Stress`)

When the value is wrong somewhere, hypothesis (derandomised; the seeds it draws are offsets of the
grading's seed) searches for and shrinks the smallest input on which it differs, so the feedback can
show it with both values. Only what the properties read is kept of a reply (see :func:`_observation`).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from simgrade.discover import locate
from simgrade.probes import Case, Probe, make_probe
from simgrade.question import ENGINE_PROPERTIES, Encoder, Images, PositivePair
from simgrade.questions import question_of
from simgrade.sandbox import Session

PROPERTIES = ENGINE_PROPERTIES
"""The properties of every question (a question adds its own :class:`~simgrade.question.Stress` ones)."""
TOLERANCE = {"float64": (1e-6, 1e-6), "float32": (1e-4, 1e-4)}  # (rtol, atol) on the loss
GRADIENT_TOLERANCE = {"float64": (1e-5, 1e-7), "float32": (1e-3, 1e-4)}  # atol scaled by the largest entry
LARGE_BATCH = 256
"""The batch size of the extra call made when every battery input raises (a batch size hard-coded to a course's)."""
STRESS_SEED_OFFSET = 100
"""The seeds of a question's k-th stress property's inputs start at the grading's seed + (k + 1) x this."""


def value_cases(function: str, seed: int = 0) -> list[Case]:
    """The battery for the value, gradient, form and inputs properties: fixed shapes, numbers from ``seed``."""
    return [Case.of(function, shape, seed + i) for i, shape in enumerate(question_of(function).battery)]


def stress_cases(function: str, seed: int = 0) -> list[Case]:
    """The inputs of the question's own properties (each case names its property in ``check``)."""
    cases = []
    for k, stress in enumerate(question_of(function).stress):
        base = seed + (k + 1) * STRESS_SEED_OFFSET
        cases += [Case.of(function, shape, base + i, check=stress.name) for i, shape in enumerate(stress.inputs)]
    return cases


def large_batch_case(function: str, seed: int = 0) -> Case:
    """The extra call of a function that raises on every battery input: B = 256, the scalars' typical values."""
    return Case(function, LARGE_BATCH, 4, "float32", seed=seed + 7)


@dataclass
class Observation:
    """One call of the student's function next to the reference on the same input."""

    case: Case
    """The input."""
    reply: dict
    """What the sandbox reported (status, kind, shape, dtype, requires_grad, changed_inputs, error...): the
    student's process wrote it, so its flags are claims; the value and the gradients are checked here."""
    value: np.ndarray | None
    """The student's returned value (float64), if it returned a number or tensor of at most B numbers."""
    grads: dict[str, np.ndarray]
    """The student's loss's gradients per parameter name (``enc.net.1.weight``...), those of the reference's shape."""
    expected: float
    """The reference loss."""
    expected_grads: dict[str, np.ndarray]
    """The reference gradients."""

    @property
    def ok(self) -> bool:
        """The call returned (rather than raising, timing out or crashing)."""
        return self.reply.get("status") == "ok"

    @property
    def scalar(self) -> float | None:
        """The returned value if it is a single number."""
        if self.value is None or self.value.size != 1:
            return None
        return float(self.value.reshape(()))

    def value_matches(self, tolerance: tuple[float, float] | None = None) -> bool:
        """The returned single number is finite and equals the reference within tolerance."""
        rtol, atol = tolerance or TOLERANCE[self.case.dtype]
        got = self.scalar
        return got is not None and np.isfinite(got) and abs(got - self.expected) <= atol + rtol * abs(self.expected)

    def gradient_mismatch(self) -> str | None:
        """None when every parameter's gradient equals the reference's, else which one differs."""
        rtol, atol = GRADIENT_TOLERANCE[self.case.dtype]
        for name, expected in self.expected_grads.items():
            got = self.grads.get(name)
            if got is None:
                return f"no gradient reaches {name}"
            scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
            if not np.allclose(got, expected, rtol=rtol, atol=atol * scale):
                return f"the gradient w.r.t. {name} differs (largest difference {float(np.abs(got - expected).max()):.3g})"
        return None


@dataclass
class PropertyResult:
    """The verdict on one property."""

    name: str
    """One of :data:`PROPERTIES`."""
    passed: bool
    """Held on every input tried."""
    detail: str
    """What was tried and, on failure, why."""


@dataclass
class Comparison:
    """Everything measured about one student function."""

    function: str
    """The function's name."""
    status: str
    """``graded``, ``missing``, ``not_implemented``, ``timeout``, ``crashed`` or ``load_failed``."""
    observations: list[Observation] = field(default_factory=list)
    """Every call on the battery."""
    probes: list[Observation] = field(default_factory=list)
    """Extra calls made to tell mistakes apart (e.g. B = 256 when every smaller batch fails)."""
    properties: dict[str, PropertyResult] = field(default_factory=dict)
    """Verdict per property."""
    counterexample: str = ""
    """The smallest input found on which the value differs, with both values."""
    message: str = ""
    """Why nothing could be graded, when status is not ``graded``."""
    note: str = ""
    """What the grading adapted to (float64 inputs graded in float32 after a dtype mismatch); also in the value's detail."""


def reference_result(probe: Probe, loss_of=None) -> tuple[float, dict[str, np.ndarray]]:
    """The reference loss and its gradients per parameter name, in float64, on the probe's numbers. ``loss_of``:
    another function of the same arguments instead (e.g. a gradient mistake's); a parameter it does not reach
    gets a zero gradient."""
    modules, batches = probe.reference_inputs()
    loss_of = loss_of or question_of(probe.case.function).reference
    loss = loss_of(*probe.arguments(modules, batches))
    named = [(f"{m}.{n}", p) for m, module in modules.items() for n, p in module.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return float(loss.detach()), {name: (torch.zeros_like(p) if g is None else g).numpy()
                                  for (name, p), g in zip(named, grads)}


def _observation(probe: Probe, reply: dict, arrays: dict, reference: tuple[float, dict]) -> Observation:
    """Keep of a reply's arrays only what the properties read: a value of at most B numbers (a scalar, or
    per-row losses) and each gradient of a parameter the reference has, of its shape."""
    expected, expected_grads = reference
    value = arrays.get("value")
    value = (np.asarray(value, dtype=np.float64)
             if value is not None and value.dtype.kind in "fiub" and value.size <= probe.case.batch else None)
    grads = {}
    for name, want in expected_grads.items():
        got = arrays.get(f"grad:{name}")
        if got is not None and got.dtype.kind == "f" and got.shape == want.shape:
            grads[name] = np.asarray(got, dtype=np.float64)
    return Observation(probe.case, reply, value, grads, expected, expected_grads)


def observe_many(session: Session, cases: list[Case]) -> list[Observation]:
    """Call the student's function on every case in the sandbox while the reference runs here."""
    if not cases:
        return []
    probes = [make_probe(case) for case in cases]
    references: list[tuple[float, dict]] = []
    replies = session.call_many(cases[0].function, [(p.message, p.arrays) for p in probes],
                                overlap=lambda: references.extend(reference_result(p) for p in probes))
    observations = []
    for probe, (reply, arrays), reference in zip(probes, replies, references):
        if reply.get("status") == "error":  # the runner's frames (numbers) as the student's file, cell and line
            reply["where"] = locate(session.programs, reply)
        observations.append(_observation(probe, reply, arrays, reference))
        arrays.clear()  # the rest goes now: a runner can pad its replies with arrays no property reads
    return observations


def observe(session: Session, case: Case) -> Observation:
    """Call the student's function on one case."""
    return observe_many(session, [case])[0]


_DTYPE_ERROR = re.compile(r"dtype|scalar type", re.IGNORECASE)


def _dtype_mismatch(obs: Observation) -> bool:
    """A float64 call that raised a dtype mismatch: code that casts to the course's float32 (``.float()``)."""
    if obs.case.dtype != "float64" or obs.reply.get("status") != "error":
        return False
    if obs.reply.get("error_type") not in ("RuntimeError", "TypeError", "ValueError"):
        return False
    error = str(obs.reply.get("error", ""))
    return bool(_DTYPE_ERROR.search(error))


def in_float32(session: Session, observations: list[Observation]) -> tuple[list[Observation], int]:
    """Each float64 call that failed only by a dtype mismatch, made again on the same input in float32 (and then
    judged with float32 tolerance); the observations and how many were made again."""
    again = [i for i, o in enumerate(observations) if _dtype_mismatch(o)]
    if not again:
        return observations, 0
    redone = observe_many(session, [replace(observations[i].case, dtype="float32") for i in again])
    out = list(observations)
    for i, obs in zip(again, redone):
        out[i] = obs
    return out, len(again)


FLOAT32_NOTE = ("{n} float64 input{s} raised a dtype mismatch (a cast to float32 such as `.float()`, harmless "
                "where everything is float32): graded on the same input{s} in float32, with float32 tolerance")


_LIBRARY_NOT_IMPLEMENTED = re.compile(r"not implemented for '|Could not run '|not currently implemented for|"
                                      r"is not implemented for|not implemented on|derivative for .* is not implemented")
"""torch's own NotImplementedError messages (a kernel missing for a dtype or a device): a bug in the call, not a stub."""


def _stub_raised(reply: dict) -> bool:
    """A NotImplementedError that the submission raised itself (an unfinished stub), not one from inside torch
    (``"log_softmax_lastdim_kernel_impl" not implemented for 'Long'`` from swapped arguments), which is graded
    like any other error. The runner says which when its reply keeps ``raised_by_submission``; else torch's
    messages tell."""
    if isinstance(reply.get("raised_by_submission"), bool):
        return reply["raised_by_submission"]
    return not _LIBRARY_NOT_IMPLEMENTED.search(str(reply.get("error", "")))


def _failure_reason(obs: Observation) -> str:
    status = obs.reply.get("status")
    if status == "error":
        where = obs.reply.get("where", "")
        return f"raised {obs.reply.get('error', '')}" + (f" (at {where})" if where else "")
    if status == "timeout":
        return "ran over its time limit"
    if status == "crashed":
        return "ended the process"
    if status == "missing":
        return "is not defined"
    if obs.reply.get("kind") == "other" and obs.value is None:
        return f"returned a {obs.reply.get('type')}, not a tensor"
    if obs.scalar is None:
        return f"returned a tensor of shape {tuple(obs.reply.get('shape', ()))}, not a single number"
    return f"returned {obs.scalar:.10g}, expected {obs.expected:.10g}"


def _first_failure(observations: list[Observation], tolerance=None) -> Observation | None:
    return next((o for o in observations if not o.value_matches(tolerance)), None)


def _battery_text(observations: list[Observation]) -> str:
    """The battery's range in words: ``B 1-64, d 1-16, float32 and float64``."""
    cases = [o.case for o in observations]
    batches, dims = [c.batch for c in cases], [c.dim for c in cases]
    dtypes = " and ".join(sorted({c.dtype for c in cases}))
    return f"B {min(batches)}-{max(batches)}, d {min(dims)}-{max(dims)}, {dtypes}"


def _value_property(observations: list[Observation]) -> PropertyResult:
    failure = _first_failure(observations)
    tried = f"{len(observations)} inputs ({_battery_text(observations)})"
    if failure is None:
        return PropertyResult("value", True, f"equals the reference on all {tried}")
    wrong = sum(not o.value_matches() for o in observations)
    return PropertyResult("value", False, f"differs from the reference on {wrong} of {tried}; "
                          f"e.g. on {failure.case.describe()} it {_failure_reason(failure)}")


def _returned(observations: list[Observation]) -> list[Observation]:
    """The calls that returned, when they are most of the battery (a raise is the value property's failure); else all."""
    returned = [o for o in observations if o.ok]
    return returned if 2 * len(returned) > len(observations) else observations


def _gradient_property(observations: list[Observation]) -> PropertyResult:
    observations = _returned(observations)
    for obs in observations:
        if not obs.ok:
            return PropertyResult("gradient", False, f"no gradient: on {obs.case.describe()} the function {_failure_reason(obs)}")
        if obs.reply.get("backward_error"):
            return PropertyResult("gradient", False, f"backward failed on {obs.case.describe()}: {obs.reply['backward_error']}")
        if obs.reply.get("kind") != "tensor" or not obs.reply.get("requires_grad"):
            return PropertyResult("gradient", False, f"on {obs.case.describe()} the result carries no gradient "
                                  "(it does not require grad)")
        if obs.scalar is None:
            return PropertyResult("gradient", False, f"on {obs.case.describe()} the result is not a single number")
        mismatch = obs.gradient_mismatch()
        if mismatch:
            return PropertyResult("gradient", False, f"on {obs.case.describe()}: {mismatch}")
    return PropertyResult("gradient", True, f"gradients w.r.t. every parameter equal the reference's on {len(observations)} inputs")


def _stress_property(stress, observations: list[Observation]) -> PropertyResult:
    failure = _first_failure(observations, tuple(stress.tolerance))
    if failure is None:
        return PropertyResult(stress.name, True, stress.holds)
    return PropertyResult(stress.name, False, f"on {failure.case.describe()} it {_failure_reason(failure)}")


def _form_property(observations: list[Observation]) -> PropertyResult:
    """The reply's flags say what is wrong; passing needs the grader's own evidence too: a 0-dim value came
    back, and gradients equal to the reference's (the runner is the student's process: flags can be forged)."""
    observations = _returned(observations)
    for obs in observations:
        reply = obs.reply
        if not obs.ok:
            return PropertyResult("form", False, f"on {obs.case.describe()} the function {_failure_reason(obs)}")
        if reply.get("kind") != "tensor":
            return PropertyResult("form", False, f"returns a {reply.get('type')}, not a torch.Tensor")
        if reply.get("subclass"):
            return PropertyResult("form", False, f"returns a {reply.get('type')} (a Tensor subclass), not a plain tensor")
        if reply.get("shape"):
            return PropertyResult("form", False, f"returns a tensor of shape {tuple(reply['shape'])}, not a 0-dim tensor")
        if not reply.get("requires_grad") or reply.get("no_grad"):
            missing = ", ".join(reply.get("no_grad", [])) or "any parameter"
            return PropertyResult("form", False, f"the returned tensor carries no gradient to {missing}")
        if obs.value is None or obs.value.shape != ():
            return PropertyResult("form", False, f"on {obs.case.describe()} no 0-dim value came back")
        mismatch = obs.gradient_mismatch()
        if mismatch:
            return PropertyResult("form", False, f"on {obs.case.describe()} the returned tensor does not carry the "
                                  f"loss's gradient: {mismatch}")
    return PropertyResult("form", True, "a plain 0-dim tensor that carries the loss's gradient to every parameter")


def _inputs_property(observations: list[Observation]) -> PropertyResult:
    for obs in observations:
        changed = obs.reply.get("changed_inputs") or []
        if changed:
            return PropertyResult("inputs_untouched", False, f"modifies its inputs in place ({', '.join(changed)}) "
                                  f"on {obs.case.describe()}")
    return PropertyResult("inputs_untouched", True, "leaves its batches and the networks' parameters unchanged")


def _search_counterexample(session: Session, function: str, seed: int = 0,
                           budget_calls: int | None = None) -> Observation | None:
    """Hypothesis (derandomised) searches for, then shrinks, the smallest input where the value differs.

    It draws the same shapes for every submission (the question's :class:`~simgrade.question.Search`);
    the numbers come from ``seed`` plus the drawn offset.
    """
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    search = question_of(function).search
    budget_calls = search.calls if budget_calls is None else budget_calls
    names = sorted(search.scalars)
    strategy = st.builds(Case, function=st.just(function), batch=st.integers(*search.batch), dim=st.integers(*search.dim),
                         dtype=st.sampled_from(list(search.dtypes)),
                         scalars=st.tuples(*(st.sampled_from(list(search.scalars[n])).map(lambda v, n=n: (n, v))
                                             for n in names)),
                         seed=st.integers(0, 1000).map(lambda k: seed + k))
    seen: dict[Case, Observation] = {}
    deadline = time.monotonic() + search.seconds

    def size(case: Case) -> tuple:
        given = dict(case.scalars)
        return (case.batch, case.dim, search.dtypes.index(case.dtype),
                *(list(search.scalars[n]).index(given[n]) for n in names), case.seed)

    def differs(case: Case) -> bool:
        if case not in seen:
            if len(seen) >= budget_calls or time.monotonic() > deadline or session.timed_out or session.crashes:
                return False
            seen[case] = in_float32(session, [observe(session, case)])[0][0]
        return not seen[case].value_matches()

    options = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                       phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    try:
        smallest = find(strategy, differs, settings=options)
    except NoSuchExample:
        failing = [c for c, o in seen.items() if not o.value_matches()]
        return seen[min(failing, key=size)] if failing else None
    return seen[smallest]


def describe_counterexample(obs: Observation) -> str:
    """The input and both values, small enough to read: the encoder's output on each batch when it is small."""
    text = f"smallest input found where the value differs: {obs.case.describe()}"
    question = question_of(obs.case.function)
    probe = make_probe(obs.case)
    modules, batches = probe.reference_inputs()
    encoder = next(a.name for a in question.arguments if isinstance(a, Encoder))
    images = [n for a in question.arguments if isinstance(a, (Images, PositivePair))
              for n in ((a.first, a.second) if isinstance(a, PositivePair) else (a.name,))]
    if obs.case.batch * obs.case.dim <= 16:
        with torch.no_grad():
            shown = [f"{encoder}({name}) = {np.round(modules[encoder](batches[name]).numpy(), 4).tolist()}" for name in images]
        text += "; " + ", ".join(shown)
    return f"{text}; yours: {_failure_reason(obs).removeprefix('returned ')}"


def compare(session: Session, function: str, seed: int = 0) -> Comparison:
    """Run the battery, judge every property, and search for a small counterexample if the value is wrong.

    ``seed`` (the grader passes :func:`~simgrade.probes.submission_seed`) draws every input's numbers.
    """
    question = question_of(function)
    battery = value_cases(function, seed)
    first = observe(session, battery[0])
    status = first.reply.get("status")
    if status == "missing":
        return Comparison(function, "missing", [first], message=f"no function {function} was found in the submission")
    if status == "load_failed":
        return Comparison(function, "load_failed", [first], message=f"the submission could not be loaded: {first.reply.get('error', '')}")
    if status == "timeout":
        return Comparison(function, "timeout", [first], message=f"{function} ran over its time limit on the first input "
                          f"({first.case.describe()}) and was stopped")
    if status == "error" and first.reply.get("error_type") == "NotImplementedError" and _stub_raised(first.reply):
        return Comparison(function, "not_implemented", [first], message=f"{function} is not implemented yet: {first.reply.get('error')}")
    rest = observe_many(session, battery[1:] + stress_cases(function, seed))
    every, recast = in_float32(session, [first] + rest)
    first, rest = every[0], every[1:]
    observations = [first] + [o for o in rest if not o.case.check]
    stressed = [o for o in rest if o.case.check]
    result = Comparison(function, "graded", observations + stressed)
    result.properties["value"] = _value_property(observations)
    result.properties["gradient"] = _gradient_property(observations)
    for stress in question.stress:
        mine = [o for o in stressed if o.case.check == stress.name]
        if mine:
            result.properties[stress.name] = _stress_property(stress, mine)
    result.properties["form"] = _form_property(observations)
    result.properties["inputs_untouched"] = _inputs_property(observations + stressed)
    if all(o.reply.get("status") == "error" for o in observations):  # a batch size hard-coded to the course's?
        result.probes.append(observe(session, large_batch_case(function, seed)))
    if not result.properties["value"].passed and not session.timed_out:
        found = _search_counterexample(session, function, seed)
        if found is not None:
            result.counterexample = describe_counterexample(found)
    if recast:
        result.note = FLOAT32_NOTE.format(n=recast, s="s" if recast > 1 else "")
        value = result.properties["value"]
        value.detail += f" ({result.note})"
    if session.timed_out:
        result.status = "timeout"
    return result
