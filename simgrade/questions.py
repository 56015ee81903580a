"""The registry of code questions: every ``*.py`` of the questions folders, imported and validated.

Each file defines ``QUESTION`` (a :class:`~simgrade.question.CodeQuestion`). The folders are, in
order of precedence: the ``SIMGRADE_QUESTIONS`` environment variable (folders separated by
``os.pathsep``), the key's ``[meta] questions`` (relative to the key), else ``answers/questions/``.
A question file is trusted course content (plain Python; it may import ``reference/``). Anything
wrong in it is a :class:`QuestionError` that names the file and the valid choices.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Mapping

from simgrade import PROJECT_ROOT
from simgrade.question import (ARGUMENT_KINDS, SCALED, CodeQuestion, Decoder, Encoder, Images, Input, Mistake,
                               PositivePair, Stress)

DEFAULT_FOLDER = PROJECT_ROOT / "answers" / "questions"
"""Where the course's question files live."""
ENVIRONMENT = "SIMGRADE_QUESTIONS"
"""Environment variable naming the questions folders (``os.pathsep``-separated), overriding the key's."""
DTYPES = ("float32", "float64")
"""The dtypes an input may have."""

_REGISTERED: dict[str, CodeQuestion] = {}
"""Every question loaded so far, by function name (the engine looks a case's question up here)."""
_CACHE: dict[tuple[str, ...], tuple[CodeQuestion, ...]] = {}


class QuestionError(ValueError):
    """A question file that cannot be used, with what is wrong and what would be right."""


def folders(configured: Iterable[Path] = ()) -> list[Path]:
    """The questions folders: ``SIMGRADE_QUESTIONS`` if set, else ``configured`` (the key's), else the default."""
    env = os.environ.get(ENVIRONMENT, "").strip()
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p.strip()]
    configured = list(configured)
    return configured or [DEFAULT_FOLDER]


def _import(path: Path) -> CodeQuestion:
    name = f"simgrade_question_{abs(hash(str(path.resolve())))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise QuestionError(f"question file {path}: {type(error).__name__}: {error}") from error
    question = getattr(module, "QUESTION", None)
    if not isinstance(question, CodeQuestion):
        raise QuestionError(f"question file {path}: defines no QUESTION = CodeQuestion(...)")
    return replace(question, source=str(path))


def _check_input(question: CodeQuestion, where: str, case: Input, fail) -> None:
    if not isinstance(case, Input):
        fail(f"{where}: {case!r} is not an Input")
    if not (isinstance(case.batch, int) and case.batch >= 1 and isinstance(case.dim, int) and case.dim >= 1):
        fail(f"{where}: batch and dim must be integers >= 1, got {case.batch!r}, {case.dim!r}")
    if case.dtype not in DTYPES:
        fail(f"{where}: unknown dtype {case.dtype!r}; valid: {', '.join(DTYPES)}")
    scalars = question.scalars
    for name, value in case.scalars.items():
        if name not in scalars:
            fail(f"{where}: unknown scalar {name!r}; valid: {', '.join(scalars) or 'none (the function takes no scalar)'}")
        if not (isinstance(value, (int, float)) and scalars[name].low <= value <= scalars[name].high):
            fail(f"{where}: {name}={value!r} is outside [{scalars[name].low}, {scalars[name].high}]")
    if case.aligned and not any(isinstance(a, PositivePair) for a in question.arguments):
        fail(f"{where}: aligned inputs need a PositivePair argument")


def validate(question: CodeQuestion) -> CodeQuestion:
    """Check a question; returns it with its mistakes bound to its id. Raises :class:`QuestionError`."""
    where = question.source or question.function

    def fail(message: str):
        raise QuestionError(f"question {question.question!r} ({where}): {message}")

    if not (isinstance(question.question, str) and question.question.strip()):
        fail("question must be a non-empty id, e.g. '9'")
    if not (isinstance(question.function, str) and question.function.isidentifier()):
        fail(f"function must be a Python identifier, got {question.function!r}")
    if not callable(question.reference):
        fail("reference must be the staff function")
    arguments = tuple(question.arguments)
    if not arguments:
        fail("arguments is empty")
    for argument in arguments:
        if not isinstance(argument, ARGUMENT_KINDS):
            fail(f"argument {argument!r} is of no known kind; valid: {', '.join(k.__name__ for k in ARGUMENT_KINDS)}")
    names = question.parameters
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        fail(f"argument names must be distinct identifiers, got {list(names)}")
    encoders = [a for a in arguments if isinstance(a, Encoder)]
    if len(encoders) != 1:
        fail(f"exactly one Encoder argument is needed (it sets the feature dimension d), got {len(encoders)}")
    if sum(isinstance(a, Decoder) for a in arguments) > 1:
        fail("at most one Decoder argument")
    if not any(isinstance(a, (Images, PositivePair)) for a in arguments):
        fail("no Images or PositivePair argument: the encoder needs a batch")
    for scalar in question.scalars.values():
        if not (scalar.low <= scalar.typical <= scalar.high and math.isfinite(scalar.low) and math.isfinite(scalar.high)):
            fail(f"scalar {scalar.name}: typical {scalar.typical} must lie in [{scalar.low}, {scalar.high}]")
    stress_names = [s.name for s in question.stress]
    for stress in question.stress:
        if not isinstance(stress, Stress) or not stress.inputs:
            fail(f"stress {stress!r}: a Stress with at least one input")
        if stress.name in ("value", "gradient", "form", "inputs_untouched"):
            fail(f"stress {stress.name!r}: that name is an engine property")
        for k, case in enumerate(stress.inputs):
            _check_input(question, f"stress {stress.name} input {k}", case, fail)
    if len(set(stress_names)) != len(stress_names):
        fail(f"stress names must be distinct, got {stress_names}")
    if len(question.battery) < 3:
        fail("the battery needs at least 3 inputs (a formula mistake is named on 3 or more)")
    for k, case in enumerate(question.battery):
        _check_input(question, f"battery input {k}", case, fail)
    if not any(case.batch == 1 for case in question.battery) or not any(case.batch > 1 for case in question.battery):
        fail("the battery needs an input with B = 1 and one with B > 1")
    search = question.search
    for name in search.scalars:
        if name not in question.scalars:
            fail(f"search: unknown scalar {name!r}; valid: {', '.join(question.scalars) or 'none'}")
        for value in search.scalars[name]:
            scalar = question.scalars[name]
            if not scalar.low <= value <= scalar.high:
                fail(f"search: {name}={value} is outside [{scalar.low}, {scalar.high}]")
    if not set(search.dtypes) <= set(DTYPES) or not search.dtypes:
        fail(f"search: dtypes must be among {', '.join(DTYPES)}")
    valid = question.properties
    points = dict(question.points)
    if not points:
        fail(f"points is empty; valid properties: {', '.join(valid)}")
    for prop, value in points.items():
        if prop not in valid:
            fail(f"points: unknown property {prop!r}; valid: {', '.join(valid)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
            fail(f"points: {prop} = {value!r} must be a positive number")
    if "value" not in points:
        fail("points: 'value' is required (every other property is scored beside a right value)")
    unscored = [name for name in stress_names if name not in points]
    if unscored:
        fail(f"points: the stress properties {unscored} have no points")
    seen = set()
    mistakes = []
    for mistake in question.mistakes:
        if not isinstance(mistake, Mistake):
            fail(f"mistake {mistake!r} is not a Mistake")
        if not mistake.name.strip() or len(mistake.fix.strip()) <= 10:
            fail(f"mistake {mistake.name!r}: needs a name and a fix the student can act on")
        if sum(f is not None for f in (mistake.formula, mistake.symptom, mistake.gradient)) != 1:
            fail(f"mistake {mistake.name!r}: give exactly one of formula, symptom, gradient")
        if mistake.name in seen:
            fail(f"mistake {mistake.name!r} twice")
        seen.add(mistake.name)
        mistakes.append(mistake)
    rubric = _rubric(question, seen, fail)
    mistakes = [replace(m, question=question.question, credit=rubric[m.name]) for m in mistakes]
    if not isinstance(question.stub, str) or f"def {question.function}(" not in question.stub:
        fail(f"stub must hold the handout's 'def {question.function}(...)'")
    if question.notebook is not None:
        missing = [n for n in question.notebook.locals if n not in names]
        if missing:
            fail(f"notebook locals {missing} are not arguments; valid: {', '.join(names)}")
        assigns = question.notebook.assigns
        if not isinstance(assigns, str) or not assigns.isidentifier():
            fail(f"notebook assigns {assigns!r} must be the name (an identifier) the FIXME lines assign")
        bound = question.notebook.bound
        if isinstance(bound, str) or not all(isinstance(n, str) and n.isidentifier() for n in bound):
            fail(f"notebook bound {bound!r} must be a tuple of names (identifiers)")
        clash = sorted(set(bound) & (set(names) | {assigns}))
        if clash:
            fail(f"notebook bound {clash} are arguments or the assigned name; the grader binds them to a device")
    return replace(question, arguments=arguments, points=points, battery=tuple(question.battery),
                   stress=tuple(question.stress), mistakes=tuple(mistakes), rubric=rubric)


def _rubric(question: CodeQuestion, own: set[str], fail) -> dict[str, float]:
    """The rubric as a checked dict: a line for every own mistake, only known names, points below the total."""
    from simgrade.mistakes import GENERIC  # the engine's symptoms (that module imports this one)

    rubric = question.rubric
    if not isinstance(rubric, Mapping):
        fail(f"rubric must map mistake names to points, got {rubric!r}")
    known = own | {m.name for m in GENERIC} | {SCALED}
    unknown = sorted(set(rubric) - known)
    if unknown:
        fail(f"rubric: unknown mistakes {unknown}; valid: the question's own mistakes, the generic symptoms "
             f"({', '.join(m.name for m in GENERIC)}) and {SCALED!r}")
    missing = sorted(own - set(rubric))
    if missing:
        fail(f"rubric: no line for the mistakes {missing} (the points the question earns when each is named)")
    total = float(sum(question.points.values()))
    for name, value in rubric.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < total:
            fail(f"rubric: {name!r} = {value!r} must be a number of points in [0, {total:g}) (a mistake never earns full marks)")
    return {name: float(value) for name, value in rubric.items()}


def load_questions(paths: Iterable[Path] = ()) -> tuple[CodeQuestion, ...]:
    """Import and validate every question file of the folders ``folders(paths)``, sorted by question id.

    Raises :class:`QuestionError` on any problem, and when two files claim the same id or function.
    """
    roots = folders(paths)
    cache_key = tuple(str(Path(p).resolve()) for p in roots)
    if cache_key in _CACHE:
        _REGISTERED.update({q.function: q for q in _CACHE[cache_key]})
        return _CACHE[cache_key]
    loaded: list[CodeQuestion] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise QuestionError(f"questions folder {root} does not exist")
        for path in sorted(root.glob("*.py")):
            if path.name.startswith("_"):
                continue
            loaded.append(validate(_import(path)))
    for attribute in ("question", "function"):
        values = [getattr(q, attribute) for q in loaded]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            files = [q.source for q in loaded if getattr(q, attribute) in twice]
            raise QuestionError(f"two question files have the same {attribute} {twice}: {', '.join(files)}")
    result = tuple(sorted(loaded, key=lambda q: natural_key(q.question)))
    _CACHE[cache_key] = result
    _REGISTERED.update({q.function: q for q in result})
    return result


def question_of(function: str) -> CodeQuestion:
    """The registered question of ``function`` (loading the configured folders if none is registered yet)."""
    if function not in _REGISTERED:
        load_questions()
    try:
        return _REGISTERED[function]
    except KeyError:
        valid = ", ".join(sorted(_REGISTERED)) or "none"
        raise QuestionError(f"no question file defines the function {function!r}; registered: {valid}") from None


def natural_key(question_id: str) -> tuple:
    """Sort key of a question id: ``2a`` before ``10``; the leading number by value, the rest as text."""
    digits = question_id[: len(question_id) - len(question_id.lstrip("0123456789"))]
    return (int(digits) if digits else math.inf, question_id[len(digits):])
