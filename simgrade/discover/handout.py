"""The handout form: a top-level ``def name(...)`` (or ``name = lambda ...``) becomes the program,
with what it uses; a parameter list the grader cannot call is noted."""
from __future__ import annotations

import ast

from simgrade.discover.collect import _Collector, _note_unresolved
from simgrade.discover.model import Chunk, FunctionSpec, Program
from simgrade.discover.notes import _Notes, _snippet
from simgrade.discover.parse import _assign_names, _Binding, _eager_lazy, _line_span, _Module, _pad, _stmt_source


def _handout_binding(module: _Module, fname: str) -> _Binding | None:
    for b in reversed(module.binds.get(fname, [])):
        if b.kind == "def":
            return b
        if b.kind == "assign" and isinstance(b.stmt.node.value, ast.Lambda) and _assign_names(b.stmt.node) == [fname]:
            return b
    return None


def _arity_note(args: ast.arguments, spec: FunctionSpec) -> str | None:
    fname = spec.name
    n = len(spec.arguments)
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    kw_required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    ok = required <= n and (n <= positional or args.vararg is not None) and not kw_required
    if ok:
        return None
    return (f"{fname} takes {positional} positional parameter{'s' if positional != 1 else ''}"
            f"{' and required keyword-only ' + ', '.join(kw_required) if kw_required else ''}; "
            f"the grader calls {fname}({', '.join(spec.arguments)})")


def _handout_program(module: _Module, binding: _Binding, spec: FunctionSpec, modules: dict[str, _Module],
                     notes: _Notes) -> tuple[Program, str]:
    fname = spec.name
    stmt = binding.stmt
    node = stmt.node
    collector = _Collector(module, modules, notes, fname, frozenset(spec.bound))
    source = _stmt_source(stmt)
    try:
        eager, lazy = _eager_lazy(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        eager, lazy = set(), set()
    eager.discard(fname)
    collector.need(eager, module, stmt.key)
    collector.need(lazy - {fname}, module, None)
    chunks = [c for c in collector.chunks()]
    first, last = _line_span(node)
    where = module.where(stmt.unit, first, last)
    padded, lines = _pad(source, first)
    place = module.place(stmt.unit)
    if isinstance(node, ast.Assign):
        chunks.append(Chunk(padded, f"{_snippet(source)} ({where})", "assign", place, lines))
        args = node.value.args
    else:
        chunks.append(Chunk(padded, f"def {fname} ({where})", "def", place, lines))
        args = node.args
        if isinstance(node, ast.AsyncFunctionDef):
            notes.add(f"{fname}: defined with `async def` ({where}); calling it returns a coroutine, not a tensor")
    why = _arity_note(args, spec)
    if why:
        notes.add(why)
    _note_unresolved(collector, fname, notes)
    program = Program(origin=module.path, form="handout", chunks=chunks, function=fname,
                      student_source=source.rstrip("\n") + "\n")
    return program, where
