"""Parsing ``.py`` files and notebooks into a module model, running nothing: ``ast`` and ``nbformat``,
IPython ``!`` / ``%`` lines blanked, a broken file bisected into the top-level pieces that still parse,
which statement binds which name, and each statement's exact source text and the names it reads
(``symtable``)."""
from __future__ import annotations

import ast
import logging
import re
import symtable
import warnings
from dataclasses import dataclass

from simgrade.discover.folder import _Budget
from simgrade.discover.notes import _clean, _Notes
from simgrade.discover.policy import _hoistable_imports, _import_guard


@dataclass(eq=False)
class _Unit:
    """A piece of text whose line numbers the AST nodes refer to: a file or a notebook cell."""

    lines: list[str]
    cell: int | None  # 1-based cell number, markdown cells counted


@dataclass(eq=False)
class _Stmt:
    node: ast.stmt
    unit: _Unit
    key: tuple[int, int]


@dataclass
class _Binding:
    stmt: _Stmt
    kind: str  # "import", "def", "class", "assign", "other"


class _Module:
    def __init__(self, path: str, notebook: bool) -> None:
        self.path = path
        self.notebook = notebook
        self.stmts: list[_Stmt] = []
        self.binds: dict[str, list[_Binding]] = {}
        self.stars: list[_Stmt] = []
        self.import_names: set[str] = set()
        self.import_origin: dict[str, str] = {}
        self.local_imports: set[str] = set()  # names bound by imports of the submission's own modules
        self.local_module_names: set[str] = set()  # top-level module names that are the submission's own files

    # -- where ---------------------------------------------------------------------------
    def place(self, unit: _Unit) -> str:
        """The file, or the notebook and its cell, as a TA counts them: ``similarity.py``, ``hw4.ipynb cell 12``."""
        return self.path if unit.cell is None else f"{self.path} cell {unit.cell}"

    def where(self, unit: _Unit, first: int, last: int | None = None) -> str:
        lines = f"line {first}" if last is None or last == first else f"lines {first}–{last}"
        return f"{self.place(unit)}, {lines}"

    def bind(self, name: str, stmt: _Stmt, kind: str) -> None:
        self.binds.setdefault(name, []).append(_Binding(stmt, kind))


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_MAGIC = re.compile(r"^(\s*)(?:[!%]|[A-Za-z_][\w\s,]*=\s*[!%](?!=))")
_RUNNING_CELL_MAGICS = frozenset({"%%time", "%%timeit", "%%capture", "%%prun"})


def _blank_magics(text: str) -> tuple[str, int]:
    """IPython ``!cmd`` / ``%magic`` / ``x = !cmd`` lines replaced by ``pass`` (same indentation)."""
    out = []
    count = 0
    for line in text.split("\n"):
        m = _MAGIC.match(line)
        if m and not line.lstrip().startswith("%="):
            out.append(m.group(1) + "pass")
            count += 1
        else:
            out.append(line)
    return "\n".join(out), count


_CONTINUATION = ("else", "elif", "except", "finally")


def _segments(lines: list[str]) -> list[tuple[int, int]]:
    """Split a broken file into top-level pieces: (first line index, end index) pairs."""
    starts = []
    decorated = False
    for i, line in enumerate(lines):
        if not line or line[0] in " \t#)]}" or line.startswith(_CONTINUATION):
            continue
        if decorated:
            decorated = line.startswith("@")
            continue
        starts.append(i)
        decorated = line.startswith("@")
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [(a, b) for a, b in zip(starts, starts[1:] + [len(lines)])]


def _parse_text(text: str, what: str, notes: _Notes, budget: _Budget,
                error: SyntaxError | None = None) -> list[ast.stmt] | None:
    """Parse (``error``: how parsing ``text`` whole already failed); on a syntax error keep the top-level
    pieces that parse (broken pieces noted and dropped)."""
    if error is None:
        try:
            return ast.parse(text).body
        except SyntaxError as exc:
            error = exc
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            notes.add(f"{what}: too complex to parse ({type(exc).__name__}); skipped")
            return None
    notes.add(f"{what}, line {error.lineno}: syntax error ({error.msg}); the rest of it is used where it parses")
    lines = text.split("\n")
    segments = _segments(lines)
    body: list[ast.stmt] = []
    bad = []
    # Runs of pieces are parsed whole and only a run that fails is halved: a few parses per broken
    # piece instead of one per piece (a large file with one error at its end costs about two parses
    # of the file, not one per line). ``runs`` is a stack of [i, j) ranges of segments, first on top.
    half = len(segments) // 2
    runs = [(i, j) for i, j in ((half, len(segments)), (0, half)) if i < j]
    while runs:
        i, j = runs.pop()
        a, b = segments[i][0], segments[j - 1][1]
        why = budget.spent()
        if why:
            notes.add(f"{what}: lines {a + 1}–{len(lines)} not parsed ({why}); skipped")
            break
        try:
            body.extend(ast.parse("\n" * a + "\n".join(lines[a:b])).body)  # the newlines keep line numbers
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            if j - i == 1:
                bad.append((a + 1, b))
            else:
                runs += [((i + j) // 2, j), (i, (i + j) // 2)]
    if bad:
        spans = ", ".join(f"{x}–{y}" if y > x else f"{x}" for x, y in bad[:8]) + (" …" if len(bad) > 8 else "")
        notes.add(f"{what}: lines {spans} do not parse; skipped")
    return body


def _notebook_units(path: str, text: str, notes: _Notes, budget: _Budget) -> list[tuple[_Unit, list[ast.stmt]]] | None:
    try:
        import nbformat  # imported lazily: only submissions with notebooks pay for it
    except Exception as exc:  # pragma: no cover - nbformat is a dependency
        notes.add(f"{path}: nbformat is not available ({exc}); notebook skipped")
        return None
    captured: dict = {}
    nb_logger = logging.getLogger("traitlets")
    was_disabled = nb_logger.disabled
    nb_logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error=captured)
        cells = nb.get("cells") if hasattr(nb, "get") else None
        if not isinstance(cells, list):
            raise ValueError("no list of cells")
    except Exception as exc:
        notes.add(f"{path}: not a notebook nbformat can read ({type(exc).__name__}: {_clean(str(exc), 80)}); skipped")
        return None
    finally:
        nb_logger.disabled = was_disabled
    if "ValidationError" in captured:
        notes.add(f"{path}: the notebook does not match the nbformat schema; its code cells are used anyway")
    units = []
    magic_cells = []
    for index, cell in enumerate(cells, start=1):
        try:
            if not hasattr(cell, "get") or cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(s for s in source if isinstance(s, str))
            if not isinstance(source, str):
                notes.add(f"{path} cell {index}: no readable source; skipped")
                continue
        except Exception:
            notes.add(f"{path} cell {index}: malformed; skipped")
            continue
        source = _normalise_newlines(source)
        why = budget.take(len(source))
        if why:
            notes.add(f"{path}: cell {index} and the cells after it not searched for code ({why})")
            break
        first = next((ln.strip() for ln in source.split("\n") if ln.strip()), "")
        if first.startswith("%%"):
            magic = first.split()[0]
            if magic not in _RUNNING_CELL_MAGICS:
                notes.add(f"{path} cell {index}: a {magic} cell magic; skipped")
                continue
            lines = source.split("\n")
            j = next(i for i, ln in enumerate(lines) if ln.strip())
            lines[j] = ""
            source = "\n".join(lines)
        source, count = _blank_magics(source)
        if count:
            magic_cells.append(index)
        body = _parse_text(source, f"{path} cell {index}", notes, budget)
        if body is None:
            continue
        units.append((_Unit(source.split("\n"), index), body))
    if magic_cells:
        notes.add(f"{path}: IPython ! and % lines ignored (cell{'s' if len(magic_cells) > 1 else ''} "
                  f"{', '.join(map(str, magic_cells[:10]))}{' …' if len(magic_cells) > 10 else ''})")
    return units


def _py_units(path: str, text: str, notes: _Notes, budget: _Budget) -> list[tuple[_Unit, list[ast.stmt]]] | None:
    try:
        body = ast.parse(text).body
    except SyntaxError as exc:
        error: SyntaxError | None = exc
        blanked, count = _blank_magics(text)
        body = None
        if count:
            text = blanked
            try:
                body = ast.parse(blanked).body
                notes.add(f"{path}: IPython ! and % lines ignored")
            except SyntaxError as again:
                error = again
            except Exception:
                error = None  # _parse_text parses it again and says why it cannot
        if body is None:
            body = _parse_text(text, path, notes, budget, error)
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        notes.add(f"{path}: too complex to parse ({type(exc).__name__}); skipped")
        return None
    if body is None:
        return None
    return [(_Unit(text.split("\n"), None), body)]


def _store_names(node: ast.AST) -> set[str]:
    """Names a statement binds in its own scope (nested functions, classes and lambdas not entered)."""
    names: set[str] = set()
    stack = [node]
    first = True
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
            if not first:
                stack.extend(n.decorator_list)
                continue
        if isinstance(n, ast.Lambda) and not first:
            continue
        first = False
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for alias in n.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            names.add(n.name)
        stack.extend(ast.iter_child_nodes(n))
    return names


def _target_names(target: ast.expr) -> list[str] | None:
    """Names of a simple target (a name, or a tuple/list of them); None for attributes/subscripts."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return _names_of(target.elts)
    return None


def _names_of(targets: list[ast.expr]) -> list[str] | None:
    """The names of every target, in order; None if any is not simple."""
    out = []
    for target in targets:
        sub = _target_names(target)
        if sub is None:
            return None
        out.extend(sub)
    return out


def _assign_names(node: ast.stmt) -> list[str] | None:
    if isinstance(node, ast.Assign):
        return _names_of(node.targets)
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return [node.target.id]
    return None


def _build_module(path: str, units: list[tuple[_Unit, list[ast.stmt]]], local_names: set[str]) -> _Module:
    module = _Module(path, path.lower().endswith(".ipynb"))
    module.local_module_names = local_names
    index = 0
    for unit, body in units:
        for node in body:
            index += 1
            stmt = _Stmt(node, unit, (index, 0))
            module.stmts.append(stmt)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                _bind_import(module, stmt)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.bind(node.name, stmt, "def")
            elif isinstance(node, ast.ClassDef):
                module.bind(node.name, stmt, "class")
            else:
                names = _assign_names(node)
                if names is not None:
                    for name in names:
                        module.bind(name, stmt, "assign")
                elif _import_guard(node):  # taken whole: a failing import falls back to the except branch
                    for name in sorted(_store_names(node)):
                        module.bind(name, stmt, "import")
                        module.import_names.add(name)
                else:
                    hoisted = _hoistable_imports(node) if not isinstance(node, (ast.For, ast.While)) else []
                    for sub, imp in enumerate(hoisted, start=1):
                        _bind_import(module, _Stmt(imp, unit, (index, sub)))
                    for name in sorted(_store_names(node)):
                        module.bind(name, stmt, "other")
    for name, binds in module.binds.items():
        binds.sort(key=lambda b: b.stmt.key)
    # which imports are the submission's own modules (never treated as a library)
    for name, binds in module.binds.items():
        for b in binds:
            if (b.kind == "import" and isinstance(b.stmt.node, (ast.Import, ast.ImportFrom))
                    and _import_module_of(b.stmt.node, name) in local_names):
                module.local_imports.add(name)
    return module


def _import_module_of(node: ast.stmt, name: str) -> str | None:
    """The top-level module an import of ``name`` comes from (None for relative imports: local)."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return "."
        return (node.module or "").split(".")[0]
    for alias in node.names:
        if (alias.asname or alias.name.split(".")[0]) == name:
            return alias.name.split(".")[0]
    return None


def _bind_import(module: _Module, stmt: _Stmt) -> None:
    node = stmt.node
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return
    for alias in node.names:
        if alias.name == "*":
            module.stars.append(stmt)
            continue
        if isinstance(node, ast.Import):
            name = alias.asname or alias.name.split(".")[0]
            origin = alias.name if alias.asname else alias.name.split(".")[0]
        else:
            name = alias.asname or alias.name
            origin = f"{node.module or ''}.{alias.name}"
        module.bind(name, stmt, "import")
        module.import_names.add(name)
        module.import_origin.setdefault(name, origin)


# -- the source text of statements, and the names they read ----------------------------


def _line_span(node: ast.stmt) -> tuple[int, int]:
    first = node.lineno
    for dec in getattr(node, "decorator_list", ()):
        first = min(first, dec.lineno)
    return first, node.end_lineno or node.lineno


def _segment(unit: _Unit, node: ast.AST) -> str | None:
    """Exact source text of ``node`` (col offsets are UTF-8 byte offsets)."""
    try:
        l1, l2 = node.lineno - 1, node.end_lineno - 1
        c1, c2 = node.col_offset, node.end_col_offset
        if l1 == l2:
            return unit.lines[l1].encode()[c1:c2].decode()
        first = unit.lines[l1].encode()[c1:].decode()
        last = unit.lines[l2].encode()[:c2].decode()
        return "\n".join([first, *unit.lines[l1 + 1:l2], last])
    except (IndexError, UnicodeDecodeError, TypeError, AttributeError):
        return None


def _stmt_source(stmt: _Stmt) -> str:
    node = stmt.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first, last = _line_span(node)
        return "\n".join(stmt.unit.lines[first - 1:last]) + "\n"
    text = _segment(stmt.unit, node)
    if text is None:
        text = ast.unparse(node)
    return text + "\n"


def _pad(source: str, first_line: int) -> tuple[str, dict[int, int]]:
    """``source`` behind blank lines, so that its lines keep their numbers in the student's file or cell, and its
    line map (each line to itself). In a ``.py`` file the numbers matter to the sandbox too: ``inspect.getsource``
    (``torch.jit.script``) reads the function from the file's copy there."""
    count = source.count("\n") + (not source.endswith("\n"))
    return "\n" * max(0, first_line - 1) + source, {n: n for n in range(first_line, first_line + count)}


def _eager_lazy(source: str) -> tuple[set[str], set[str]]:
    """Module-level names a chunk reads: (when it runs, when its functions are called)."""
    top = symtable.symtable(source, "<chunk>", "exec")
    eager = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    lazy: set[str] = set()

    def visit(table: symtable.SymbolTable, is_lazy: bool) -> None:
        for sym in table.get_symbols():
            if sym.is_referenced() and sym.is_global():
                (lazy if is_lazy else eager).add(sym.get_name())
        for child in table.get_children():
            child_lazy = is_lazy or (
                child.get_type() == "function"
                and child.get_name() not in ("listcomp", "setcomp", "dictcomp", "genexpr")
            )
            visit(child, child_lazy)

    for child in top.get_children():
        visit(child, child.get_type() == "function" and child.get_name() not in (
            "listcomp", "setcomp", "dictcomp", "genexpr"))
    return eager, lazy
