"""The entry point: a submission folder -> :class:`Submission`. Reads the folder, parses its code, and
finds each spec's function, in handout form first, else in course form."""
from __future__ import annotations

import ast
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from simgrade.discover.course import _course_program
from simgrade.discover.fingerprint import _fingerprint
from simgrade.discover.folder import _answers, _Budget, _decode, _private_copy, _walk, NOT_CODE_DIRS
from simgrade.discover.handout import _handout_binding, _handout_program
from simgrade.discover.model import FunctionSpec, Program, Submission
from simgrade.discover.notes import _Notes
from simgrade.discover.parse import _build_module, _Module, _normalise_newlines, _notebook_units, _py_units
from simgrade.discover.policy import _WELL_KNOWN


def _code_rank(path: str, preferred_file: str | None = None) -> tuple:
    """Search order: files named ``preferred_file`` (the handout's module), then other ``.py``, then ``.ipynb``."""
    name = path.rsplit("/", 1)[-1]
    rank = 0 if preferred_file is not None and name == preferred_file else 1 if name.lower().endswith(".py") else 2
    return (rank, path.count("/"), path)


def discover(folder: Path | str, specs: Sequence[FunctionSpec], preferred_file: str | None = None) -> Submission:
    """Find the function of each of ``specs`` in the submission ``folder`` by parsing only; never runs submission code.

    ``preferred_file`` is the handout module's file name (the key's ``[meta] handout_file``): files of
    that name are searched first (the shallowest first), then the other ``.py`` files, then notebooks.
    Raises ``NotADirectoryError`` when ``folder`` is not a directory (the CLI reports it as a
    usage error); every problem inside the folder becomes a note instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    budget = _Budget.start()
    root = os.path.realpath(folder)
    notes = _Notes()
    entries = _walk(root, notes)

    files = _private_copy(entries, notes)

    # -- answers.toml ----------------------------------------------------------------------
    answers = _answers(entries, files, notes)

    # -- code ------------------------------------------------------------------------------
    code_paths = []
    checkpoints = []
    for rel in files:
        low = rel.lower()
        if not (low.endswith(".py") or low.endswith(".ipynb")):
            continue
        parts = rel.split("/")
        if any(p in NOT_CODE_DIRS for p in parts[:-1]) or parts[-1].startswith("._"):
            checkpoints.append(rel)
            continue
        code_paths.append(rel)
    if checkpoints:
        notes.add(f"not searched for code (autosave copies or archive debris): {', '.join(checkpoints[:5])}"
                  f"{' …' if len(checkpoints) > 5 else ''}")
    code_paths.sort(key=lambda path: _code_rank(path, preferred_file))
    local_names = {p.rsplit("/", 1)[-1][:-3] for p in code_paths if p.endswith(".py")}
    local_names |= {p.split("/")[-2] for p in code_paths if p.endswith("/__init__.py")}
    local_names -= set(sys.stdlib_module_names) | _WELL_KNOWN
    local_names.add(".")
    modules: dict[str, _Module] = {}
    unparsed: dict[str, list[str]] = {}  # why -> files not searched for code
    for rel in code_paths:
        text = _decode(files[rel])
        if text is None:
            notes.add(f"{rel}: binary or not UTF-8 text; refused")
            continue
        text = _normalise_newlines(text)
        notebook = rel.lower().endswith(".ipynb")
        why = budget.spent() if notebook else budget.take(len(text))  # a notebook pays per code cell
        if why:
            unparsed.setdefault(why, []).append(rel)
            continue
        try:
            if notebook:
                units = _notebook_units(rel, text, notes, budget)
            else:
                units = _py_units(rel, text, notes, budget)
            if units is None:
                continue
            modules[rel] = _build_module(rel, units, local_names)
        except (RecursionError, MemoryError) as exc:
            notes.add(f"{rel}: too complex to read ({type(exc).__name__}); skipped")
    for why, paths in unparsed.items():
        notes.add(f"not searched for code ({why}): {', '.join(paths[:5])}{' …' if len(paths) > 5 else ''}")

    programs: dict[str, Program] = {}
    fingerprints: dict[str, str] = {}
    for spec in specs:
        fname = spec.name
        try:
            found = _find_function(spec, modules, notes, preferred_file)
        except (RecursionError, MemoryError) as exc:
            notes.add(f"{fname}: the code is too complex to analyse ({type(exc).__name__}); not graded")
            found = None
        if found is not None:
            program, fp = found
            program.bound = tuple(spec.bound)
            programs[fname] = program
            fingerprints[fname] = fp
    return Submission(programs=programs, files=files, answers_toml=answers, notes=notes.done(),
                      fingerprints=fingerprints)


def _is_stub(node: ast.AST) -> bool:
    """A definition left as handed out: its body (after a docstring) only raises NotImplementedError, or
    is ``pass`` / ``...``."""
    if isinstance(node, ast.Assign):  # name = lambda ...: a lambda cannot raise
        return False
    body = list(getattr(node, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return True
    if len(body) != 1:
        return False
    s = body[0]
    if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
        return True
    if isinstance(s, ast.Raise) and s.exc is not None:
        exc = s.exc.func if isinstance(s.exc, ast.Call) else s.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _find_function(spec: FunctionSpec, modules: dict[str, _Module], notes: _Notes,
                   preferred_file: str | None = None) -> tuple[Program, str] | None:
    fname = spec.name
    # 1. handout form, in preference order
    defining = [(m, b) for m in modules.values() if (b := _handout_binding(m, fname)) is not None]
    implemented = [(m, b) for m, b in defining if not _is_stub(b.stmt.node)]
    stubs = [m.path for m, b in defining if _is_stub(b.stmt.node)]
    # 2. course form: its candidates, when there is no implemented handout definition
    candidates = []
    if spec.training is not None and not implemented:
        for module in modules.values():
            got = _course_program(module, spec, modules, _Notes())
            if got is not None:
                candidates.append((got[2], _code_rank(module.path, preferred_file), module))
    usable_course = any(c[0] == 0 for c in candidates)
    if defining and not (stubs and not implemented and usable_course):
        # an implemented definition wins over a stub (one that only raises NotImplementedError, or passes)
        module, binding = (implemented or defining)[0]
        program, where = _handout_program(module, binding, spec, modules, notes)
        if len(defining) > 1:
            notes.add(f"{fname}: defined in {len(defining)} files ({', '.join(m.path for m, _ in defining[:5])}); "
                      f"using {module.path}")
        if stubs and implemented:
            notes.add(f"{fname}: the unimplemented stub in {', '.join(stubs[:5])} is not graded; using the "
                      f"implemented definition in {module.path}")
        notes.add(f"{fname}: taken from {where} (handout form)")
        node = binding.stmt.node
        fp_node = node.value if isinstance(node, ast.Assign) else node
        return program, _fingerprint(fp_node, program.chunks[:-1], program.student_source)
    if candidates:
        candidates.sort(key=lambda c: (c[0], c[1]))
        module = candidates[0][2]
        program, where, quality, fp_node = _course_program(module, spec, modules, notes)
        if len(candidates) > 1:
            notes.add(f"{fname}: {spec.training} found in {len(candidates)} files; using {module.path}")
        if stubs:
            notes.add(f"{fname}: the unimplemented stub in {', '.join(stubs[:5])} is not graded; using the "
                      f"lines at the FIXME of {spec.training} in {module.path}")
        notes.add(f"{fname}: taken from {where} (course form: the lines at the FIXME of {spec.training})")
        return program, _fingerprint(fp_node, program.chunks[:-1], program.student_source)
    looked = f"a top-level `def {fname}(...)`"
    if spec.training is not None:
        looked += f" or the training loop of `{spec.training}` (course notebook)"
    notes.add(f"{fname}: not found; looked for {looked} in every .py and .ipynb file")
    return None
