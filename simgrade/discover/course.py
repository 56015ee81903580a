"""The course-notebook form: the student's lines at the FIXME inside the training loop of the spec's
training function become the function, with the locals the grader binds (its arguments) and the simple
assignments and helpers of the training function that the lines read."""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from simgrade.discover.collect import _Collector, _note_unresolved
from simgrade.discover.model import Chunk, FunctionSpec, Program
from simgrade.discover.notes import _Notes, _snippet
from simgrade.discover.parse import (_assign_names, _eager_lazy, _line_span, _Module, _store_names,
                                     _Unit)
from simgrade.discover.policy import _BUILTIN_NAMES, _denied, _not_simple


_STOP_CALLS = frozenset({"backward", "step"})
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


def _walk_no_defs(node: ast.AST):
    """ast.walk that does not enter nested functions, classes or lambdas."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            stack.append(child)


def _calls(node: ast.AST, attrs: frozenset[str]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in attrs
               for n in _walk_no_defs(node))


def _stores(node: ast.AST, names) -> bool:
    return any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in names
               for n in _walk_no_defs(node))


def _blocks(stmts: list[ast.stmt]):
    """Every statement list nested in ``stmts`` (not inside nested functions/classes), with the path to it."""
    stack: list[tuple[list[ast.stmt], tuple]] = [(stmts, ())]
    while stack:
        block, path = stack.pop(0)
        yield block, path
        for i, s in enumerate(block):
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for fieldname in ("body", "orelse", "finalbody"):
                sub = getattr(s, fieldname, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                    stack.append((sub, path + ((block, i),)))
            for h in getattr(s, "handlers", []) or []:
                stack.append((h.body, path + ((block, i),)))
            for case in getattr(s, "cases", []) or []:
                stack.append((case.body, path + ((block, i),)))


def _is_zero_grad_only(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and _calls(stmt, frozenset({"zero_grad"}))
            and not _calls(stmt, _STOP_CALLS))


def _is_empty_stmt(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))


@dataclass
class _Region:
    block: list[ast.stmt]
    path: tuple
    start: int
    stop: int
    stmts: list[ast.stmt]
    contiguous: bool
    dropped: list[ast.stmt]


def _region_in(block: list[ast.stmt], path: tuple, stop: int, spec: FunctionSpec) -> _Region:
    start = 0
    for i in range(stop):
        if _stores(block[i], set(spec.locals)):
            start = i + 1
    kept = [i for i in range(start, stop) if not _is_zero_grad_only(block[i])]
    last_assign = max((k for k, i in enumerate(kept) if _stores(block[i], {spec.assigns})), default=None)
    dropped = []
    if last_assign is not None:
        dropped = [block[i] for i in kept[last_assign + 1:]]
        kept = kept[: last_assign + 1]
    contiguous = all(b == a + 1 for a, b in zip(kept, kept[1:]))
    return _Region(block, path, start, stop, [block[i] for i in kept], contiguous, dropped)


def _find_region(fn: ast.FunctionDef, spec: FunctionSpec) -> _Region | None:
    """The student's lines in the training loop of ``fn``; None when there is no such loop.

    Candidates are the statement lists inside a loop that hold a ``.backward()``/``.step()`` call
    (else a ``.zero_grad()``); the innermost loop wins, then a region that assigns ``spec.assigns``.
    """
    best = None
    for order, (block, path) in enumerate(_blocks(fn.body)):
        loops = sum(isinstance(b[i], _LOOPS) for b, i in path)
        if not loops:
            continue
        stop = next((i for i, s in enumerate(block) if not isinstance(s, _LOOPS) and _calls(s, _STOP_CALLS)), None)
        strength = 0
        if stop is not None:
            strength = 2 if _calls(block[stop], frozenset({"backward"})) else 1
        else:
            stop = next((i for i, s in enumerate(block) if _is_zero_grad_only(s)), None)
            if stop is None:
                continue
        region = _region_in(block, path, stop, spec)
        assigns = any(_stores(s, {spec.assigns}) for s in region.stmts)
        score = (loops, assigns, bool(region.stmts), strength, -len(path), -order)
        if best is None or score > best[0]:
            best = (score, region)
    return None if best is None else best[1]


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _verbatim(unit: _Unit, stmts: list[ast.stmt], contiguous: bool) -> tuple[list[str], str, int] | None:
    """The lines of ``stmts`` as written, their indentation and the first line's number; None when they do not
    stand on lines of their own (code they share a line with, or a gap where a statement was left out)."""
    first, last = stmts[0], stmts[-1]
    l1, l2 = _line_span(first)[0], last.end_lineno
    try:
        prefix = _leading_ws(unit.lines[l1 - 1])
        tail = unit.lines[l2 - 1].encode()[last.end_col_offset:].decode(errors="replace").strip()
    except (IndexError, TypeError):
        return None
    if not contiguous or len(prefix) != first.col_offset or (tail and not tail.startswith("#")):
        return None
    return unit.lines[l1 - 1:l2], prefix, l1


def _reindented(lines: list[str], prefix: str, indent: str) -> list[str] | None:
    """``lines`` moved from ``prefix`` to ``indent``; None when a line is not under ``prefix`` (a string continued at
    column 0), which moving would change."""
    if not all(not ln.strip() or ln.startswith(prefix) for ln in lines):
        return None
    return [indent + ln[len(prefix):] if ln.strip() else "" for ln in lines]


def _unparsed(stmts: list[ast.stmt], indent: str) -> list[tuple[str, int]]:
    """The statements rewritten by ``ast.unparse``, each line with a line of its statement in the unit (the
    first lines in order, any further ones on its last: unparsed text no longer matches line for line)."""
    return [(indent + text, min(s.lineno + k, s.end_lineno))
            for s in stmts for k, text in enumerate(ast.unparse(s).split("\n"))]


def _region_rows(unit: _Unit, region: _Region) -> tuple[list[tuple[str, int]], str]:
    """The student's lines as the wrapper's body, each with its line in the unit, and the body's indentation:
    verbatim, re-indented to 4 spaces where that changes no line (else at their own indentation), or unparsed
    when they share lines with code that is not theirs."""
    got = _verbatim(unit, region.stmts, region.contiguous)
    if got is None:
        return _unparsed(region.stmts, "    "), "    "
    lines, prefix, l1 = got
    moved = _reindented(lines, prefix, "    ")
    indent = prefix if moved is None else "    "
    return [(line, l1 + k) for k, line in enumerate(lines if moved is None else moved)], indent


def _local_rows(unit: _Unit, stmt: ast.stmt, indent: str) -> list[tuple[str, int]]:
    """A local of the training function that the lines use, as lines of the wrapper at ``indent``, each with its line."""
    got = _verbatim(unit, [stmt], True)
    moved = None if got is None else _reindented(got[0], got[1], indent)
    if moved is None:
        return _unparsed([stmt], indent)
    return [(line, got[2] + k) for k, line in enumerate(moved)]


def _loose_jump(stmts: list[ast.stmt]) -> str | None:
    """``break``/``continue`` outside any loop of ``stmts``, or ``yield``/``await``: they cannot leave the loop."""
    def visit(node: ast.AST, in_loop: bool) -> str | None:
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            return type(node).__name__.lower()
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            return type(node).__name__.lower()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return None
        for fieldname, value in ast.iter_fields(node):
            loop_body = isinstance(node, _LOOPS) and fieldname == "body"
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    found = visit(child, in_loop or loop_body)
                    if found:
                        return found
        return None
    for s in stmts:
        found = visit(s, False)
        if found:
            return found
    return None


def _course_program(module: _Module, spec: FunctionSpec, modules: dict[str, _Module],
                    notes: _Notes) -> tuple[Program, str, int, ast.AST | None] | None:
    """(program, where, quality: 0 usable / 1 never assigns ``spec.assigns`` / 2 empty, fingerprint node); None
    without a training loop."""
    fname = spec.name
    binding = next((b for b in reversed(module.binds.get(spec.training, [])) if b.kind == "def"), None)
    if binding is None:
        return None
    stmt = binding.stmt
    fn = stmt.node
    region = _find_region(fn, spec)
    if region is None:
        return None
    unit = stmt.unit
    place = module.place(unit)
    params = ", ".join(spec.arguments)
    header = f"def {fname}({params}):\n"

    def stub(message: str) -> str:
        return header + f"    raise NotImplementedError({message!r})\n"

    if not region.stmts or all(_is_empty_stmt(s) for s in region.stmts):
        anchor = region.block[region.stop] if region.stop < len(region.block) else fn
        where = module.where(unit, anchor.lineno)
        label = f"empty FIXME before {where} (inside {spec.training}), as {fname}({params})"
        program = Program(module.path, "course", [Chunk(stub("the FIXME lines are empty"), label, "wrapper", place)],
                          fname, "")
        return program, f"{where} (empty: nothing between the batches and optim.zero_grad())", 2, None
    for s in region.dropped:
        notes.add(f"{fname}: `{_snippet(ast.unparse(s))}` ({module.where(unit, s.lineno)}) comes after {spec.assigns} is "
                  f"computed; not graded")
    body, indent = _region_rows(unit, region)
    text = "\n".join(line for line, _ in body)
    l1, l2 = _line_span(region.stmts[0])[0], region.stmts[-1].end_lineno
    where = module.where(unit, l1, l2)
    student_source = _dedent(text)
    fp_node = ast.FunctionDef(name="f", args=_make_args(spec.arguments), body=list(region.stmts), decorator_list=[],
                              returns=None, type_comment=None)
    label = f"student lines {where} (inside {spec.training}), as {fname}({params})"
    if not any(_stores(s, {spec.assigns}) for s in region.stmts):
        program = Program(module.path, "course",
                          [Chunk(stub(f"the lines at the FIXME never assign {spec.assigns}"), label, "wrapper", place)],
                          fname, student_source)
        return program, f"{where} (they never assign {spec.assigns})", 1, fp_node
    jump = _loose_jump(region.stmts)
    if jump:
        message = f"the lines at the FIXME use {jump}, which only works inside the training loop"
        notes.add(f"{fname}: {message} ({where})")
        program = Program(module.path, "course", [Chunk(stub(message), label, "wrapper", place)], fname, student_source)
        return program, where, 1, fp_node
    # names the lines read: simple local assignments of the training function, else module-level names
    local_candidates, local_skipped = _local_candidates(fn, region, spec, module)
    fn_binds = _store_names_in_function(fn)
    taken_locals: list[ast.stmt] = []
    free: set[str] = set()
    wrapper = ""
    rows: list[tuple[str, int | None]] = []  # the wrapper's lines, each with its line in the unit (None: the grader's)
    bind = [(f"{indent}{name} = {spec.locals[0]}.device", None) for name in spec.bound]
    for _ in range(100):
        rows = [(header.rstrip("\n"), None), *bind, *(row for s in taken_locals for row in _local_rows(unit, s, indent)),
                *body, (f"{indent}return {spec.assigns}", None)]
        wrapper = "\n".join(line for line, _ in rows) + "\n"
        try:
            eager, lazy = _eager_lazy(wrapper)
        except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
            message = f"the lines at the FIXME do not compile as a function ({getattr(exc, 'msg', type(exc).__name__)})"
            notes.add(f"{fname}: {message} ({where})")
            program = Program(module.path, "course", [Chunk(stub(message), label, "wrapper", place)], fname, student_source)
            return program, where, 1, fp_node
        free = (eager | lazy) - {fname}
        new = []
        for name in sorted(free):
            s = local_candidates.get(name)
            if s is not None and all(s is not t for t in taken_locals + new):
                new.append(s)
        if not new:
            break
        taken_locals.extend(new)
        taken_locals.sort(key=lambda s: (s.lineno, s.col_offset))
    for s in taken_locals:
        notes.add(f"{fname}: also takes `{_snippet(ast.unparse(s))}` from {spec.training} "
                  f"({module.where(unit, s.lineno)})")
    module_names = set()
    for name in sorted(free):
        if name in fn_binds and name not in local_candidates:
            if name in local_skipped:
                s, why = local_skipped[name]
                notes.add(f"{fname}: the lines at the FIXME use `{name}`, a local of {spec.training}; "
                          f"`{_snippet(ast.unparse(s))}` ({module.where(unit, s.lineno)}) not taken: {why}")
            elif name not in _BUILTIN_NAMES:
                notes.add(f"{fname}: the lines at the FIXME use `{name}`, a local of {spec.training} "
                          f"that the grader does not provide (it is not assigned by a plain statement "
                          f"before the training loop)")
        else:
            module_names.add(name)
    collector = _Collector(module, modules, notes, fname, frozenset(spec.bound))
    collector.need(module_names, module, None)
    chunks = collector.chunks()
    lines = {n: line for n, (_, line) in enumerate(rows, start=1) if line is not None}
    chunks.append(Chunk(wrapper, label, "wrapper", place, lines))
    _note_unresolved(collector, fname, notes)
    program = Program(module.path, "course", chunks, fname, student_source)
    return program, where, 0, fp_node


def _dedent(text: str) -> str:
    out = textwrap.dedent(text)
    return out.rstrip("\n") + "\n"


def _make_args(names) -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])


def _store_names_in_function(fn: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    for a in (fn.args.vararg, fn.args.kwarg):
        if a is not None:
            names.add(a.arg)
    for stmt in fn.body:
        names |= _store_names(stmt)
    return names


def _local_candidates(fn: ast.FunctionDef, region: _Region, spec: FunctionSpec, module: _Module
                      ) -> tuple[dict[str, ast.stmt], dict[str, tuple[ast.stmt, str]]]:
    """Simple assignments and helper functions of the training function that run before the student's lines;
    and, per local left out, the statement and why.

    Besides what is simple at module level, a local may be built by calling a class or function the
    submission defines at top level (``criterion = SomeLoss(temperature=t)``), its arguments simple or
    locals of the function; the definition is then taken like any helper. Never the training function
    itself, the graded function, or a name the policy denies (``train*``, loaders, ...).
    """
    blocked = set(spec.arguments) | set(spec.bound) | set(spec.locals)
    own = frozenset(name for name, binds in module.binds.items()
                    if binds and (binds[-1].kind in ("def", "class") or name in module.local_imports)
                    and not _denied(name) and name not in (spec.training, spec.name))
    local_names = frozenset(_store_names_in_function(fn)) | own
    order: list[ast.stmt] = []
    for block, i in region.path:
        order.extend(block[:i])
    order.extend(region.block[: region.start])
    found: dict[str, ast.stmt] = {}
    skipped: dict[str, tuple[ast.stmt, str]] = {}
    for s in order:
        if isinstance(s, ast.FunctionDef) and not s.decorator_list:  # a helper defined in the trainer
            if s.name in blocked:
                continue
            found[s.name] = s
            skipped.pop(s.name, None)
            continue
        names = _assign_names(s)
        if not names:
            continue
        if set(names) & blocked:
            for n in names:
                found.pop(n, None)
                skipped[n] = (s, "the grader binds it") if n in spec.bound else (s, "the grader passes it")
            continue
        why = _not_simple(s.value, module, local_names)
        for n in names:
            if why is None:
                found[n] = s
                skipped.pop(n, None)
            else:
                found.pop(n, None)
                skipped[n] = (s, why)
    return found, skipped
