"""The data of discovery: a :class:`FunctionSpec` per graded function in, a :class:`Submission` (its
:class:`Program` of :class:`Chunk` per function, the private copy of the files, ``answers.toml``) out."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FunctionSpec:
    """One function the grader calls, and where the course notebook hides it.

    E.g. ``FunctionSpec("reconstruction_error", ("model", "x"), "train_model", ("x",), "err", ("dev",))``:
    a top-level ``def reconstruction_error(model, x)`` (handout form), else the lines at the FIXME of the
    training loop in ``train_model`` that read ``x`` and assign ``err`` (course form); ``dev`` is bound
    by the grader, never taken from the submission.
    """

    name: str
    """The function's name."""
    arguments: tuple[str, ...]
    """Its positional argument names, in the order the grader passes them."""
    training: str | None
    """The course notebook's training function whose FIXME lines assign :attr:`assigns` (None if none: handout form only)."""
    locals: tuple[str, ...] = ()
    """The locals of that function the student's lines read (loop variables, bound by the grader as arguments)."""
    assigns: str | None = None
    """The name the lines at the FIXME assign the value to (the wrapper returns it); required with ``training``."""
    bound: tuple[str, ...] = ()
    """Names the grader binds itself, to the torch device of the inputs (the wrapper: that of ``locals[0]``;
    the sandbox: the CPU): the submission's assignments to them are never taken, in either form."""

    def __post_init__(self) -> None:
        if self.training is not None and not self.locals:
            raise ValueError(f"{self.name}: a course-form spec names the locals its lines read")
        if self.training is not None and not self.assigns:
            raise ValueError(f"{self.name}: a course-form spec names the variable its lines assign")
        if not set(self.locals) <= set(self.arguments):
            raise ValueError(f"{self.name}: the locals {self.locals} must be among the arguments {self.arguments}")


@dataclass
class Chunk:
    """One piece of the student's program, executed on its own in the sandbox's module namespace."""

    source: str
    """Python source, run in order with the other chunks; a chunk that fails is skipped with a note."""
    label: str
    """Where it comes from, for notes: e.g. ``import torch.nn.functional as F (hw4.ipynb cell 3, line 4)``."""
    kind: str
    """``"import"``, ``"def"``, ``"class"``, ``"assign"`` or ``"wrapper"``."""
    place: str = ""
    """The file, or notebook cell, its lines come from, as a TA counts: ``similarity.py``, ``hw4.ipynb cell 12``."""
    lines: dict[int, int] = field(default_factory=dict)
    """Line of :attr:`source` -> the line in :attr:`place` it was taken from (1-based). A line absent is the
    grader's own (the course wrapper's ``def`` and ``return``). An error in the sandbox is located with it
    (:func:`simgrade.discover.where.locate`)."""


@dataclass
class Program:
    """Everything needed to define one graded function in a fresh namespace."""

    origin: str
    """Relative posix path of the file the function was taken from."""
    form: str
    """``"handout"`` (a top-level definition) or ``"course"`` (lines lifted out of a training loop)."""
    chunks: list[Chunk]
    """The chunks to run, in order; the last one defines :attr:`function`."""
    function: str
    """The name to call once the chunks have run."""
    student_source: str
    """The student's code for this function (the ``def``, or the lines at the FIXME), for feedback."""
    bound: tuple[str, ...] = ()
    """Names the sandbox binds in the function's namespace before the chunks run (its spec's ``bound``)."""

    def message(self) -> dict:
        """The program as the sandbox's load message holds it. The grader keeps the list it sends, and reads each
        chunk's place and line map back from it to locate an error (:func:`simgrade.discover.where.locate`)."""
        return {"origin": self.origin, "function": self.function, "bound": list(self.bound),
                "chunks": [{"source": c.source, "label": c.label, "kind": c.kind, "place": c.place,
                            "lines": sorted(c.lines.items())} for c in self.chunks]}


@dataclass
class Submission:
    """What discovery found in a submission folder."""

    programs: dict[str, Program] = field(default_factory=dict)
    """Function name -> the program that defines it; absent when not found."""
    files: dict[str, bytes] = field(default_factory=dict)
    """The private copy for the sandbox: relative posix path -> bytes (regular files only, limits applied)."""
    answers_toml: bytes | None = None
    """The bytes of ``answers.toml`` (top of the folder, else the only one anywhere), read once; None if absent or refused."""
    notes: list[str] = field(default_factory=list)
    """One-line messages for the student and TA: refused files, skipped cells and statements, what was taken from where."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    """Function name -> hash of the normalised AST of the student's code (docstrings, comments, local names ignored)."""
