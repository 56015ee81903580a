"""Following the names the chosen code reads, transitively and into the submission's own files, to the
chunks to run: each import, definition or assignment that the policy allows, in source order, with a
note for each one refused and for each name left undefined."""
from __future__ import annotations

import ast
import sys

from simgrade.discover.model import Chunk
from simgrade.discover.notes import _Notes, _snippet
from simgrade.discover.parse import (_assign_names, _Binding, _eager_lazy, _line_span, _Module, _pad, _Stmt,
                                     _stmt_source)
from simgrade.discover.policy import _BUILTIN_NAMES, _not_simple


class _Collector:
    """Resolves the module-level names the chosen code reads, transitively, into statements to take."""

    def __init__(self, module: _Module, modules: dict[str, _Module], notes: _Notes, fname: str,
                 bound: frozenset[str] = frozenset()) -> None:
        self.module = module
        self.bound = frozenset(bound)
        """Names the grader binds itself (the spec's ``bound``): never taken from the submission."""
        self.modules = modules
        self.notes = notes
        self.fname = fname
        self.taken: dict[int, tuple[tuple, _Module, _Stmt, str]] = {}
        self.extra: list[tuple[tuple, Chunk]] = []
        self.unresolved: set[str] = set()
        self.visited: set[tuple[int, str, object]] = set()
        self.depth = 0

    # -- public -----------------------------------------------------------------------------
    def need(self, names: set[str], module: _Module | None = None, before: tuple | None = None,
             prefix: tuple = ()) -> None:
        module = module or self.module
        for name in sorted(names):
            self._resolve(module, name, before, prefix)

    def chunks(self) -> list[Chunk]:
        items: list[tuple[tuple, Chunk]] = list(self.extra)
        for key, module, stmt, kind in self.taken.values():
            items.append((key, self._chunk(module, stmt, kind)))
        items.sort(key=lambda kc: kc[0])
        return [c for _, c in items]

    # -- internals --------------------------------------------------------------------------
    def _chunk(self, module: _Module, stmt: _Stmt, kind: str) -> Chunk:
        first, last = _line_span(stmt.node)
        source, lines = _pad(_stmt_source(stmt), first)
        where = module.where(stmt.unit, first, last)
        node = stmt.node
        if kind in ("def", "class"):
            label = f"{kind} {node.name} ({where})"
        else:
            label = f"{_snippet(source)} ({where})"
        return Chunk(source=source, label=label, kind=kind, place=module.place(stmt.unit), lines=lines)

    def _resolve(self, module: _Module, name: str, before: tuple | None, prefix: tuple) -> None:
        mark = (id(module), name, before)
        if mark in self.visited:
            return
        self.visited.add(mark)
        if name in self.bound:
            for b in module.binds.get(name, []):
                if b.kind == "assign":
                    first, _ = _line_span(b.stmt.node)
                    self.notes.add(f"{self.fname}: `{_snippet(_stmt_source(b.stmt))}` ({module.where(b.stmt.unit, first)}) "
                                   f"not used: the grader binds `{name}`")
            return
        binds = module.binds.get(name, [])
        candidates = [b for b in binds if before is None or b.stmt.key < before] or binds
        chosen: list[_Binding] = []
        for b in reversed(candidates):
            why = self._why_not(module, b)
            if why is None:
                chosen.append(b)
                if b.kind == "import":  # earlier imports of the same name too: a failing one falls back
                    for earlier in reversed(candidates[: candidates.index(b)]):
                        if earlier.kind != "import":
                            break
                        chosen.append(earlier)
                break
            first, _ = _line_span(b.stmt.node)
            self.notes.add(f"{self.fname}: `{_snippet(_stmt_source(b.stmt))}` ({module.where(b.stmt.unit, first)}) "
                           f"not taken: {why}")
        if not chosen:
            if not binds and module.stars:
                self._from_stars(module, name, prefix)
                return
            if name not in _BUILTIN_NAMES:
                self.unresolved.add(name)
            return
        for b in chosen:
            self._take(module, b.stmt, b.kind, prefix, name)

    def _from_stars(self, module: _Module, name: str, prefix: tuple) -> None:
        """A name no statement binds: it may come from ``from X import *``."""
        for stmt in module.stars:
            node = stmt.node
            if node.level or (node.module or "").split(".")[0] in module.local_module_names:
                target = _local_module_for(module.path, node, self.modules)
                if target is not None and name in target.binds:
                    self.need({name}, target, None, prefix + (stmt.key,))
                    return
                continue
            self._take(module, stmt, "import", prefix)

    def _why_not(self, module: _Module, b: _Binding) -> str | None:
        if b.kind in ("import", "def", "class"):
            return None
        if b.kind == "other":
            node = b.stmt.node
            kind = {ast.For: "a loop", ast.While: "a loop", ast.With: "a with block", ast.If: "an if block",
                    ast.Try: "a try block", ast.AugAssign: "an augmented assignment"}.get(type(node), "not a plain assignment")
            return f"it is {kind}"
        node = b.stmt.node
        names = _assign_names(node) or []
        mine = sorted(self.bound & set(names))
        if mine:
            return f"the grader binds {', '.join(f'`{n}`' for n in mine)}"
        return _not_simple(node.value, module)

    def _take(self, module: _Module, stmt: _Stmt, kind: str, prefix: tuple, name: str | None = None) -> None:
        key = prefix + (stmt.key,)
        if id(stmt) in self.taken:
            old = self.taken[id(stmt)]
            if key < old[0]:
                self.taken[id(stmt)] = (key, module, stmt, kind)
            return
        if kind == "import" and name is not None and name in module.local_imports:
            self._take_local_import(module, stmt, name, key)
            return
        self.taken[id(stmt)] = (key, module, stmt, kind)
        if kind == "import":
            return
        self.depth += 1
        try:
            if self.depth > 100:
                return
            eager, lazy = _eager_lazy(_stmt_source(stmt))
            self.need(eager - {getattr(stmt.node, "name", None)} if kind in ("def", "class") else eager,
                      module, stmt.key, prefix)
            self.need(lazy, module, None, prefix)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            pass
        finally:
            self.depth -= 1

    def _take_local_import(self, module: _Module, stmt: _Stmt, name: str, key: tuple) -> None:
        """``from helpers import f`` of the submission's own file: take ``f`` from it, never run the file."""
        node = stmt.node
        target = _local_module_for(module.path, node, self.modules)
        first, _ = _line_span(node)
        where = module.where(stmt.unit, first)
        if target is None or not isinstance(node, ast.ImportFrom):
            why = ("imports the submission's own module as a whole; not run (use `from module import name`)"
                   if not isinstance(node, ast.ImportFrom) or target is None and not node.module
                   else "imports from the submission's own module, not found next to it; not run")
            self.notes.add(f"{self.fname}: `{_snippet(_stmt_source(stmt))}` ({where}) {why}")
            self.unresolved.add(name)
            return
        original = next((a.name for a in node.names if (a.asname or a.name) == name), name)
        self.notes.add(f"{self.fname}: `{original}` taken from {target.path} (imported at {where})")
        self.need({original}, target, None, key)
        if original != name:
            self.extra.append((key + ((sys.maxsize, 0),), Chunk(f"{name} = {original}\n", f"{name} = {original} ({where})",
                                                                 "assign", module.place(stmt.unit))))


def _local_module_for(path: str, node: ast.stmt, modules: dict[str, _Module]) -> _Module | None:
    """The submission's own ``.py`` file that ``from X import ...`` refers to, if any."""
    if not isinstance(node, ast.ImportFrom):
        return None
    parts = path.split("/")[:-1]
    if node.level:
        if node.level - 1 > len(parts):
            return None
        bases = ["/".join(parts[: len(parts) - (node.level - 1)])]
    else:
        bases = ["/".join(parts), ""]
    dotted = (node.module or "").replace(".", "/")
    for base in dict.fromkeys(bases):
        stem = "/".join(p for p in (base, dotted) if p)
        for candidate in (f"{stem}.py", f"{stem}/__init__.py" if stem else "__init__.py"):
            if candidate in modules and candidate != path:
                return modules[candidate]
    return None


def _note_unresolved(collector: _Collector, fname: str, notes: _Notes) -> None:
    missing = sorted(collector.unresolved)
    if missing:
        notes.add(f"{fname}: uses {', '.join('`' + m + '`' for m in missing[:8])}"
                  f"{' …' if len(missing) > 8 else ''}, which the submission does not define at top level")
