"""Submission folder -> :class:`Submission`: what to run in the sandbox, and nothing else.

This package is discovery's public interface; it knows no homework: the caller names the functions
to find, one :class:`FunctionSpec` each.

This runs in the GRADER process, so it only *parses* the submission: ``ast``, ``symtable``
and ``nbformat``. Nothing from the submission is imported, executed or evaluated here
(``compile`` is used on the generated wrapper only to check its syntax; it runs nothing).

Two forms are found (CONTRACT.md, "What a submission folder holds"), e.g. for
``FunctionSpec("reconstruction_error", ("model", "x"), "train_model", ("x",), "err", ("dev",))``:

* **handout** -- a top-level ``def reconstruction_error(model, x)`` in any ``.py`` or ``.ipynb``
  (files named ``discover``'s ``preferred_file``, the handout's module, first);
* **course** -- the course notebook (or its ``.py`` export): the student's lines sit inside the
  training loop of ``train_model``, after ``x`` is moved to the device and before
  ``optim.zero_grad()``, and assign ``err``; they are lifted into a wrapper function that binds
  ``dev`` to ``x``'s device and returns ``err``. The grader binds ``dev`` itself: the submission's
  assignments to it are never taken.

From the chosen file only imports, function and class definitions and the *simple* module-level
assignments that the chosen code uses (transitively) are taken, each as its own :class:`Chunk`,
so a failing import or definition is skipped in the sandbox instead of sinking the whole
submission. Training calls, data loading, asserts, ``!pip`` lines and every other top-level
statement are never taken. See docs/DISCOVERY.md for the TA-facing summary.

The modules, in the order data flows through them: ``folder`` (reading the folder safely),
``parse`` (``.py`` and ``.ipynb`` into a module model), ``policy`` (what may be taken),
``collect`` (following the names the code uses), ``handout`` and ``course`` (the two forms),
``fingerprint``, and ``find`` (the entry point, :func:`discover`); ``model`` and ``notes`` hold
the data and the notes they share. ``where`` (:func:`locate`) turns the sandbox's report of where the
code raised (numbers only) into the file, cell and line the student wrote, with each chunk's line map.
"""
from __future__ import annotations

from simgrade.discover.find import discover
from simgrade.discover.folder import (
    DISCOVER_SECONDS,
    MAX_ANSWERS_BYTES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_PARSE_BYTES,
    MAX_TOTAL_BYTES,
)
from simgrade.discover.model import Chunk, FunctionSpec, Program, Submission
from simgrade.discover.where import locate

__all__ = [
    "Chunk",
    "Program",
    "Submission",
    "discover",
    "locate",
    "FunctionSpec",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_FILES",
    "MAX_DEPTH",
    "MAX_ANSWERS_BYTES",
    "MAX_PARSE_BYTES",
    "DISCOVER_SECONDS",
]
