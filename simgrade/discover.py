"""Submission folder -> :class:`Submission`: what to run in the sandbox, and nothing else.

This runs in the GRADER process, so it only *parses* the submission: ``ast``, ``symtable``
and ``nbformat``. Nothing from the submission is imported, executed or evaluated here
(``compile`` is used on the generated wrapper only to check its syntax; it runs nothing).

Two forms are found (CONTRACT.md, "What a submission folder holds"):

* **handout** -- a top-level ``def autoencoder_loss(enc, dec, batch)`` /
  ``def contrastive_loss(enc, batch1, batch2, tau)`` in any ``.py`` or ``.ipynb``;
* **course** -- the course notebook (or its ``.py`` export): the student's lines sit inside the
  training loop of ``train_autoencoder`` / ``train_contrastive``, after the batches are moved to
  the device and before ``optim.zero_grad()``; they are lifted into a wrapper function.

From the chosen file only imports, function and class definitions and the *simple* module-level
assignments that the chosen code uses (transitively) are taken, each as its own :class:`Chunk`,
so a failing import or definition is skipped in the sandbox instead of sinking the whole
submission. Training calls, data loading, asserts, ``!pip`` lines and every other top-level
statement are never taken. See docs/DISCOVERY.md for the TA-facing summary.
"""
from __future__ import annotations

import ast
import builtins
import copy
import hashlib
import logging
import os
import re
import stat
import symtable
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from simgrade.text import untrusted

__all__ = [
    "Chunk",
    "Program",
    "Submission",
    "discover",
    "FUNCTION_SPECS",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_FILES",
    "MAX_DEPTH",
    "MAX_ANSWERS_BYTES",
    "MAX_PARSE_BYTES",
    "DISCOVER_SECONDS",
]

# ----------------------------------------------------------------------------------------
# Limits
# ----------------------------------------------------------------------------------------

MAX_FILE_BYTES = 2 * 1024 * 1024
"""A file larger than this is neither copied nor parsed."""
MAX_TOTAL_BYTES = 16 * 1024 * 1024
"""At most this many bytes are copied into :attr:`Submission.files`."""
MAX_FILES = 300
"""At most this many files are copied into :attr:`Submission.files`."""
MAX_DEPTH = 4
"""Files at most this many folders below the submission folder are read."""
MAX_ANSWERS_BYTES = 64 * 1024
"""A larger ``answers.toml`` is refused."""
MAX_ENTRIES = 5000
"""The walk stops after looking at this many directory entries (a folder bomb cannot stall it)."""
MAX_NOTES = 200
"""At most this many notes are kept; the rest are counted in a last note."""
MAX_PARSE_BYTES = 4 * 1024 * 1024
"""At most this much source (``.py`` files, notebooks' code cells) is parsed in all; later files are not searched for code."""
DISCOVER_SECONDS = 10.0
"""Parsing stops after this many seconds of discovery; the files not yet parsed are not searched for code."""

SKIP_DIRS = frozenset({".git", "__pycache__"})
"""Folders that are never read."""
NOT_CODE_DIRS = frozenset({".ipynb_checkpoints", "__MACOSX"})
"""Folders whose files are copied but never searched for code (autosaves, zip debris)."""
GRADER_BOUND = frozenset({"device"})
"""Module-level names the grader binds itself: the submission's assignments to them are never taken."""


@dataclass(frozen=True)
class FunctionSpec:
    """What the grader calls, and where the course notebook hides it."""

    params: tuple[str, ...]
    """The parameters the grader passes, in order."""
    trainer: str
    """The course notebook's training function that holds the student's lines."""
    batch_names: tuple[str, ...]
    """The loop variables moved to the device just before the student's lines."""


FUNCTION_SPECS: dict[str, FunctionSpec] = {
    "autoencoder_loss": FunctionSpec(("enc", "dec", "batch"), "train_autoencoder", ("batch",)),
    "contrastive_loss": FunctionSpec(
        ("enc", "batch1", "batch2", "tau"), "train_contrastive", ("batch1", "batch2")
    ),
}
"""The functions of the homework; any other name passed to :func:`discover` is looked for in
handout form only."""


# ----------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """One piece of the student's program, executed on its own in the sandbox's module namespace."""

    source: str
    """Python source, run in order with the other chunks; a chunk that fails is skipped with a note."""
    label: str
    """Where it comes from, for notes: e.g. ``import torch.nn.functional as F (hw4.ipynb cell 3, line 4)``."""
    kind: str
    """``"import"``, ``"def"``, ``"class"``, ``"assign"`` or ``"wrapper"``."""


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


# ----------------------------------------------------------------------------------------
# Notes
# ----------------------------------------------------------------------------------------

def _clean(text: str, limit: int = 300) -> str:
    """One printable line: control, bidi and separator characters escaped, at most ``limit`` characters."""
    return untrusted(text, limit, multiline=False)


def _snippet(source: str, limit: int = 60) -> str:
    """The first non-blank line of ``source``, shortened, for a note."""
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            more = len(source.strip().splitlines()) > 1
            if len(line) > limit:
                return line[: limit - 1] + "…"
            return line + (" …" if more else "")
    return ""


class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0
        self.seen: set[str] = set()

    def add(self, message: str) -> None:
        message = _clean(message)
        if message in self.seen:
            return
        self.seen.add(message)
        if len(self.items) < MAX_NOTES:
            self.items.append(message)
        else:
            self.dropped += 1

    def done(self) -> list[str]:
        out = list(self.items)
        if self.dropped:
            out.append(f"... and {self.dropped} more notes not shown")
        return out


# ----------------------------------------------------------------------------------------
# Reading the folder
# ----------------------------------------------------------------------------------------


@dataclass
class _Entry:
    rel: str
    path: str  # what to open (the real path for an in-folder symlink)
    size: int


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")


def _name_ok(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _BAD_NAME.search(name)


def _walk(root: str, notes: _Notes) -> list[_Entry]:
    """Every regular file under ``root`` (depth-limited, symlinks out refused), sorted by path."""
    entries: list[_Entry] = []
    examined = 0
    stopped = False

    def visit(dirpath: str, rel: str, depth: int) -> None:
        nonlocal examined, stopped
        if stopped:
            return
        items = []
        try:
            with os.scandir(dirpath) as it:
                for item in it:
                    items.append(item)
                    if len(items) > MAX_ENTRIES:
                        break
        except OSError as exc:
            notes.add(f"{rel or '.'}: folder not readable ({exc.strerror or exc}); skipped")
            return
        items.sort(key=lambda e: e.name)
        for item in items:
            examined += 1
            if examined > MAX_ENTRIES:
                if not stopped:
                    notes.add(f"more than {MAX_ENTRIES} files and folders: the rest were not read")
                stopped = True
                return
            if not _name_ok(item.name):
                notes.add(f"{rel}{item.name!r}: a name with control characters or not UTF-8; skipped")
                continue
            relp = rel + item.name
            try:
                if item.is_symlink():
                    _symlink(item, relp, depth)
                elif item.is_dir(follow_symlinks=False):
                    if item.name in SKIP_DIRS:
                        continue
                    if depth >= MAX_DEPTH:
                        notes.add(f"{relp}/: more than {MAX_DEPTH} folders deep; not read")
                        continue
                    visit(item.path, relp + "/", depth + 1)
                elif item.is_file(follow_symlinks=False):
                    entries.append(_Entry(relp, item.path, item.stat(follow_symlinks=False).st_size))
                else:
                    notes.add(f"{relp}: not a regular file (FIFO, socket or device); skipped")
            except OSError as exc:
                notes.add(f"{relp}: not readable ({exc.strerror or exc}); skipped")

    def _symlink(item: os.DirEntry, relp: str, depth: int) -> None:
        target = os.path.realpath(item.path)
        if not _inside(target, root):
            notes.add(f"{relp}: a symlink that leads out of the submission folder; refused")
            return
        try:
            st = os.stat(target)
        except OSError:
            notes.add(f"{relp}: a broken symlink; skipped")
            return
        if stat.S_ISDIR(st.st_mode):
            notes.add(f"{relp}: a symlink to a folder; not followed")
        elif stat.S_ISREG(st.st_mode):
            entries.append(_Entry(relp, target, st.st_size))
        else:
            notes.add(f"{relp}: a symlink to something that is not a regular file; skipped")

    visit(root, "", 0)
    entries.sort(key=lambda e: e.rel)
    return entries


def _read_bytes(path: str, limit: int) -> bytes | str:
    """The file's bytes, or a reason it was refused. Never follows a final symlink, never blocks on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_nlink != 1:  # another name of the same file may lie outside the submission (the key, say)
            return f"a hard link (one file with {st.st_nlink} names)"
        if st.st_size > limit:
            return f"larger than {limit // 1024} KiB"
        parts: list[bytes] = []
        got = 0
        while True:
            block = os.read(fd, min(1 << 20, limit + 1 - got))
            if not block:
                break
            parts.append(block)
            got += len(block)
            if got > limit:
                return f"larger than {limit // 1024} KiB"
        return b"".join(parts)
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    finally:
        os.close(fd)


def _priority(entry: _Entry) -> tuple:
    name = entry.rel.rsplit("/", 1)[-1]
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    rank = 0 if entry.rel == "answers.toml" else 1 if suffix in ("py", "ipynb", "toml") else 2
    return (rank, entry.rel.count("/"), entry.rel)


@dataclass
class _Budget:
    """What discovery may still spend on parsing: until a deadline, and at most so many bytes of source."""

    deadline: float
    bytes_left: int

    def spent(self) -> str | None:
        """Why nothing more may be parsed, or None."""
        if time.monotonic() > self.deadline:
            return f"discovery's {DISCOVER_SECONDS:g} s budget is spent"
        return None

    def take(self, size: int) -> str | None:
        """Charge ``size`` bytes of source; why they may not be parsed, or None."""
        why = self.spent()
        if why is None and size > self.bytes_left:
            why = f"over the {MAX_PARSE_BYTES // (1024 * 1024)} MiB of source discovery parses in all"
        if why is None:
            self.bytes_left -= size
        return why


def _decode(data: bytes) -> str | None:
    """Text for source files: UTF-8 (a BOM allowed), no NUL bytes; None when that fails."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# ----------------------------------------------------------------------------------------
# Parsing into a module model
# ----------------------------------------------------------------------------------------


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
    def where(self, unit: _Unit, first: int, last: int | None = None) -> str:
        lines = f"line {first}" if last is None or last == first else f"lines {first}–{last}"
        if unit.cell is not None:
            return f"{self.path} cell {unit.cell}, {lines}"
        return f"{self.path}, {lines}"

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
        out = []
        for elt in target.elts:
            sub = _target_names(elt)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def _assign_names(node: ast.stmt) -> list[str] | None:
    if isinstance(node, ast.Assign):
        out = []
        for target in node.targets:
            sub = _target_names(target)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return [node.target.id]
    return None


def _hoistable_imports(node: ast.stmt) -> list[ast.stmt]:
    """Imports inside top-level try/if/with blocks (not inside functions, classes or loops)."""
    found = []
    stack = [node]
    while stack:
        n = stack.pop(0)
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            found.append(n)
        elif isinstance(n, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            stack[:0] = n.body + [s for h in n.handlers for s in h.body] + n.orelse + n.finalbody
        elif isinstance(n, ast.If):
            stack[:0] = n.body + n.orelse
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            stack[:0] = n.body
    return found


_GUARD_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception"})


def _import_guard(node: ast.stmt) -> bool:
    """``try: import x  except ImportError: x = None`` (imports, then only imports, plain assignments or pass)."""
    if not isinstance(node, ast.Try) or node.orelse or node.finalbody or not node.handlers:
        return False
    if not all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body):
        return False
    for handler in node.handlers:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if handler.type is not None and not all(isinstance(t, ast.Name) and t.id in _GUARD_ERRORS for t in types):
            return False
        for s in handler.body:
            simple = (isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets)
                      and isinstance(s.value, (ast.Constant, ast.Name, ast.Attribute)))
            if not (simple or isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass))):
                return False
    return True


_WELL_KNOWN = frozenset({"torch", "numpy", "einops", "torchvision", "tqdm", "matplotlib", "scipy",
                         "sklearn", "pandas", "PIL", "nbformat", "kornia", "IPython", "google"})


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


# ----------------------------------------------------------------------------------------
# Source text of statements
# ----------------------------------------------------------------------------------------


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


def _pad(source: str, first_line: int, used: int = 0) -> str:
    """Blank lines in front so that line numbers in tracebacks match the student's file (or cell)."""
    return "\n" * max(0, first_line - 1 - used) + source


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


# ----------------------------------------------------------------------------------------
# Which assignments are simple enough to take
# ----------------------------------------------------------------------------------------

_DENY = frozenset({
    "load", "loads", "open", "input", "exec", "eval", "compile", "system", "popen", "Popen", "run",
    "call", "check_call", "check_output", "urlopen", "urlretrieve", "download", "download_url",
    "mount", "save", "savez", "remove", "unlink", "rmtree", "rmdir", "fit", "sleep", "fork", "kill",
    "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars", "breakpoint", "exit",
    "quit", "read", "write", "read_csv", "read_text", "read_bytes", "from_pretrained", "wait",
    "hf_hub_download", "load_dataset", "ImageFolder", "MNIST", "CIFAR10", "display", "show",
})
_SAFE_BUILTINS = frozenset({
    "abs", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "float", "frozenset",
    "hash", "int", "isinstance", "len", "list", "max", "min", "object", "ord", "pow", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
})
_EXPR_OK = (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
            ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Subscript, ast.Slice, ast.Starred,
            ast.JoinedStr, ast.FormattedValue, ast.Attribute, ast.Call, ast.Lambda)


def _denied(name: str) -> bool:
    return name in _DENY or name.startswith("train")


def _not_simple(expr: ast.AST, module: _Module, local_ok: frozenset[str] = frozenset()) -> str | None:
    """Why the right-hand side of an assignment is not taken, or None when it is simple."""
    stack: list[ast.AST] = [expr]
    seen = 0
    while stack:
        n = stack.pop()
        seen += 1
        if seen > 5000:
            return "it is too large"
        if isinstance(n, (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)):
            continue
        if isinstance(n, ast.keyword):
            stack.append(n.value)
            continue
        if not isinstance(n, _EXPR_OK):
            kind = type(n).__name__
            return f"it uses {'a comprehension' if 'Comp' in kind or kind == 'GeneratorExp' else kind}"
        if isinstance(n, ast.Attribute) and _denied(n.attr):
            return f"it calls .{n.attr}"
        if isinstance(n, ast.Lambda):
            stack.extend(n.args.defaults)
            stack.extend(d for d in n.args.kw_defaults if d is not None)
            continue
        if isinstance(n, ast.Call):
            why = _callable_not_ok(n.func, module, local_ok)
            if why:
                return why
        stack.extend(ast.iter_child_nodes(n))
    return None


_DENY_MODULES = frozenset({
    "os", "sys", "subprocess", "shutil", "pickle", "dill", "joblib", "requests", "urllib", "http", "socket",
    "builtins", "importlib", "ctypes", "multiprocessing", "threading", "signal", "time", "google", "wandb",
    "gdown", "pathlib", "io", "glob", "tempfile", "IPython", "code", "runpy", "webbrowser",
})


def _callable_not_ok(func: ast.expr, module: _Module, local_ok: frozenset[str]) -> str | None:
    """Why calling ``func`` at module level is not taken: only imported libraries and harmless builtins are."""
    root = func
    while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
        if isinstance(root, ast.Attribute) and _denied(root.attr):
            return f"it calls .{root.attr}"
        root = root.func if isinstance(root, ast.Call) else root.value
    if isinstance(root, ast.Constant):
        return None
    if not isinstance(root, ast.Name):
        return "it calls something that is not an imported library"
    name = root.id
    if name in module.import_names and name not in module.local_imports:
        origin = module.import_origin.get(name, name)
        parts = origin.strip(".").split(".")
        if parts[0] in _DENY_MODULES or any(_denied(p) for p in parts[1:]):
            return f"it calls {origin}"
        return None
    if name in local_ok:
        return None
    if name in _SAFE_BUILTINS and name not in module.binds:
        return None
    return f"it calls {name}, which is not an imported library"


# ----------------------------------------------------------------------------------------
# Collecting the chunks a program needs
# ----------------------------------------------------------------------------------------

_BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__"}


class _Collector:
    """Resolves the module-level names the chosen code reads, transitively, into statements to take."""

    def __init__(self, module: _Module, modules: dict[str, _Module], notes: _Notes, fname: str) -> None:
        self.module = module
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
        source = _stmt_source(stmt)
        first, last = _line_span(stmt.node)
        source = _pad(source, first)
        where = module.where(stmt.unit, first, last)
        node = stmt.node
        if kind in ("def", "class"):
            label = f"{kind} {node.name} ({where})"
        else:
            label = f"{_snippet(source)} ({where})"
        return Chunk(source=source, label=label, kind=kind)

    def _resolve(self, module: _Module, name: str, before: tuple | None, prefix: tuple) -> None:
        mark = (id(module), name, before)
        if mark in self.visited:
            return
        self.visited.add(mark)
        if name in GRADER_BOUND:
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
        if GRADER_BOUND & set(names):
            return "the grader binds `device`"
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
            self.extra.append((key + ((sys.maxsize, 0),), Chunk(f"{name} = {original}\n",
                                                                 f"{name} = {original} ({where})", "assign")))


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


# ----------------------------------------------------------------------------------------
# Handout form
# ----------------------------------------------------------------------------------------


def _handout_binding(module: _Module, fname: str) -> _Binding | None:
    for b in reversed(module.binds.get(fname, [])):
        if b.kind == "def":
            return b
        if b.kind == "assign" and isinstance(b.stmt.node.value, ast.Lambda) and _assign_names(b.stmt.node) == [fname]:
            return b
    return None


def _arity_note(fname: str, args: ast.arguments, spec: FunctionSpec | None) -> str | None:
    if spec is None:
        return None
    n = len(spec.params)
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    kw_required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    ok = required <= n and (n <= positional or args.vararg is not None) and not kw_required
    if ok:
        return None
    return (f"{fname} takes {positional} positional parameter{'s' if positional != 1 else ''}"
            f"{' and required keyword-only ' + ', '.join(kw_required) if kw_required else ''}; "
            f"the grader calls {fname}({', '.join(spec.params)})")


def _handout_program(module: _Module, binding: _Binding, fname: str, modules: dict[str, _Module],
                     notes: _Notes) -> tuple[Program, str]:
    stmt = binding.stmt
    node = stmt.node
    collector = _Collector(module, modules, notes, fname)
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
    if isinstance(node, ast.Assign):
        chunks.append(Chunk(_pad(source, first), f"{_snippet(source)} ({where})", "assign"))
        args = node.value.args
    else:
        chunks.append(Chunk(_pad(source, first), f"def {fname} ({where})", "def"))
        args = node.args
        if isinstance(node, ast.AsyncFunctionDef):
            notes.add(f"{fname}: defined with `async def` ({where}); calling it returns a coroutine, not a tensor")
    why = _arity_note(fname, args, FUNCTION_SPECS.get(fname))
    if why:
        notes.add(why)
    _note_unresolved(collector, fname, notes)
    program = Program(origin=module.path, form="handout", chunks=chunks, function=fname,
                      student_source=source.rstrip("\n") + "\n")
    return program, where


def _note_unresolved(collector: _Collector, fname: str, notes: _Notes) -> None:
    missing = sorted(collector.unresolved)
    if missing:
        notes.add(f"{fname}: uses {', '.join('`' + m + '`' for m in missing[:8])}"
                  f"{' …' if len(missing) > 8 else ''}, which the submission does not define at top level")


# ----------------------------------------------------------------------------------------
# Course form
# ----------------------------------------------------------------------------------------

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
        if _stores(block[i], set(spec.batch_names)):
            start = i + 1
    kept = [i for i in range(start, stop) if not _is_zero_grad_only(block[i])]
    last_loss = max((k for k, i in enumerate(kept) if _stores(block[i], {"loss"})), default=None)
    dropped = []
    if last_loss is not None:
        dropped = [block[i] for i in kept[last_loss + 1:]]
        kept = kept[: last_loss + 1]
    contiguous = all(b == a + 1 for a, b in zip(kept, kept[1:]))
    return _Region(block, path, start, stop, [block[i] for i in kept], contiguous, dropped)


def _find_region(fn: ast.FunctionDef, spec: FunctionSpec) -> _Region | None:
    """The student's lines in the training loop of ``fn``; None when there is no such loop.

    Candidates are the statement lists inside a loop that hold a ``.backward()``/``.step()`` call
    (else a ``.zero_grad()``); the innermost loop wins, then a region that assigns ``loss``.
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
        assigns = any(_stores(s, {"loss"}) for s in region.stmts)
        score = (loops, assigns, bool(region.stmts), strength, -len(path), -order)
        if best is None or score > best[0]:
            best = (score, region)
    return None if best is None else best[1]


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _region_text(unit: _Unit, region: _Region) -> tuple[str, str]:
    """(the lines verbatim at their own indentation, that indentation); unparsed when not on lines of their own."""
    stmts = region.stmts
    first, last = stmts[0], stmts[-1]
    l1, l2 = _line_span(first)[0], last.end_lineno
    try:
        prefix = _leading_ws(unit.lines[l1 - 1])
        tail = unit.lines[l2 - 1].encode()[last.end_col_offset:].decode(errors="replace").strip()
        clean = (region.contiguous and len(prefix) == first.col_offset
                 and (not tail or tail.startswith("#")))
    except (IndexError, TypeError):
        prefix, clean = "", False
    if clean:
        lines = unit.lines[l1 - 1:l2]
        if all(not ln.strip() or ln.startswith(prefix) for ln in lines):  # re-indent to 4 spaces
            return "\n".join("    " + ln[len(prefix):] if ln.strip() else "" for ln in lines), "    "
        return "\n".join(lines), prefix
    prefix = "    "
    text = "\n".join(textwrap.indent(ast.unparse(s), prefix, lambda _: True) for s in stmts)
    return text, prefix


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


def _course_program(module: _Module, fname: str, spec: FunctionSpec, modules: dict[str, _Module],
                    notes: _Notes) -> tuple[Program, str, int, ast.AST | None] | None:
    """(program, where, quality: 0 usable / 1 no loss / 2 empty, fingerprint node); None without a training loop."""
    binding = next((b for b in reversed(module.binds.get(spec.trainer, [])) if b.kind == "def"), None)
    if binding is None:
        return None
    stmt = binding.stmt
    fn = stmt.node
    region = _find_region(fn, spec)
    if region is None:
        return None
    unit = stmt.unit
    params = ", ".join(spec.params)
    header = f"def {fname}({params}):\n"

    def stub(message: str) -> str:
        return header + f"    raise NotImplementedError({message!r})\n"

    if not region.stmts or all(_is_empty_stmt(s) for s in region.stmts):
        anchor = region.block[region.stop] if region.stop < len(region.block) else fn
        where = module.where(unit, anchor.lineno)
        label = f"empty FIXME before {where} (inside {spec.trainer}), as {fname}({params})"
        program = Program(module.path, "course", [Chunk(stub("the FIXME lines are empty"), label, "wrapper")],
                          fname, "")
        return program, f"{where} (empty: nothing between the batches and optim.zero_grad())", 2, None
    for s in region.dropped:
        notes.add(f"{fname}: `{_snippet(ast.unparse(s))}` ({module.where(unit, s.lineno)}) comes after loss is "
                  f"computed; not graded")
    text, prefix = _region_text(unit, region)
    l1, l2 = _line_span(region.stmts[0])[0], region.stmts[-1].end_lineno
    where = module.where(unit, l1, l2)
    student_source = _dedent(text)
    fp_node = ast.FunctionDef(name="f", args=_make_args(spec.params), body=list(region.stmts), decorator_list=[],
                              returns=None, type_comment=None)
    label = f"student lines {where} (inside {spec.trainer}), as {fname}({params})"
    if not any(_stores(s, {"loss"}) for s in region.stmts):
        program = Program(module.path, "course",
                          [Chunk(stub("the lines at the FIXME never assign loss"), label, "wrapper")],
                          fname, student_source)
        return program, f"{where} (they never assign loss)", 1, fp_node
    jump = _loose_jump(region.stmts)
    if jump:
        message = f"the lines at the FIXME use {jump}, which only works inside the training loop"
        notes.add(f"{fname}: {message} ({where})")
        program = Program(module.path, "course", [Chunk(stub(message), label, "wrapper")], fname, student_source)
        return program, where, 1, fp_node
    # names the lines read: simple local assignments of the training function, else module-level names
    local_candidates = _local_candidates(fn, region, spec, module)
    fn_binds = _store_names_in_function(fn)
    taken_locals: list[ast.stmt] = []
    free: set[str] = set()
    wrapper = ""
    for _ in range(100):
        local_src = "".join(textwrap.indent(ast.unparse(s), prefix, lambda _: True) + "\n" for s in taken_locals)
        wrapper = (header + f"{prefix}device = {spec.batch_names[0]}.device\n" + local_src + text
                   + f"\n{prefix}return loss\n")
        try:
            eager, lazy = _eager_lazy(wrapper)
        except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
            message = f"the lines at the FIXME do not compile as a function ({getattr(exc, 'msg', type(exc).__name__)})"
            notes.add(f"{fname}: {message} ({where})")
            program = Program(module.path, "course", [Chunk(stub(message), label, "wrapper")], fname, student_source)
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
        notes.add(f"{fname}: also takes `{_snippet(ast.unparse(s))}` from {spec.trainer} "
                  f"({module.where(unit, s.lineno)})")
    module_names = set()
    for name in sorted(free):
        if name in fn_binds and name not in local_candidates:
            if name not in _BUILTIN_NAMES:
                notes.add(f"{fname}: the lines at the FIXME use `{name}`, a local of {spec.trainer} "
                          f"that the grader does not provide")
        else:
            module_names.add(name)
    collector = _Collector(module, modules, notes, fname)
    collector.need(module_names, module, None)
    chunks = collector.chunks()
    chunks.append(Chunk(_pad(wrapper, l1, 2 + len(taken_locals)), label, "wrapper"))
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


def _local_candidates(fn: ast.FunctionDef, region: _Region, spec: FunctionSpec, module: _Module) -> dict[str, ast.stmt]:
    """Simple assignments and helper functions of the training function that run before the student's lines."""
    blocked = set(spec.params) | GRADER_BOUND | set(spec.batch_names)
    local_names = frozenset(_store_names_in_function(fn))
    order: list[ast.stmt] = []
    for block, i in region.path:
        order.extend(block[:i])
    order.extend(region.block[: region.start])
    found: dict[str, ast.stmt] = {}
    for s in order:
        if isinstance(s, ast.FunctionDef) and not s.decorator_list:  # a helper defined in the trainer
            if s.name in blocked:
                continue
            found[s.name] = s
            continue
        names = _assign_names(s)
        if not names:
            continue
        if set(names) & blocked:
            for n in names:
                found.pop(n, None)
            continue
        if _not_simple(s.value, module, local_names) is None:
            for n in names:
                found[n] = s
        else:
            for n in names:
                found.pop(n, None)
    return found


# ----------------------------------------------------------------------------------------
# Fingerprints
# ----------------------------------------------------------------------------------------


class _Renamer(ast.NodeTransformer):
    def __init__(self, local: set[str]) -> None:
        self.local = local
        self.map: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.local:
            return name
        if name not in self.map:
            self.map[name] = f"_v{len(self.map)}"
        return self.map[name]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._name(node.arg)
        node.annotation = None
        node.type_comment = None
        return node

    def visit_FunctionDef(self, node):  # nested helpers: their names are local too
        node.name = self._name(node.name)
        node.returns = None
        node.type_comment = None
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self._name(node.name)
        self.generic_visit(node)
        return node

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):  # docstrings and bare strings
            return None
        self.generic_visit(node)
        return node

    def visit_Pass(self, node):
        return None


def _normal_dump(node: ast.AST, anonymous: bool) -> str:
    """ast.dump without docstrings, annotations, positions; local names numbered by first use."""
    tree = copy.deepcopy(node)
    local: set[str] = set()
    declared_global: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.arg):
            local.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            local.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n is not tree:
            local.add(n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            local.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            declared_global |= set(n.names)
    if isinstance(tree, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if anonymous:
            tree.name = "f"
        tree.decorator_list = []
    elif isinstance(tree, (ast.Assign, ast.AnnAssign)):
        local = set()  # module-level names keep their names: other code refers to them
    tree = _Renamer(local - declared_global).visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _fingerprint(node: ast.AST | None, helpers: list[Chunk], fallback: str) -> str:
    """Hash of the student's code for one function: the function (or the FIXME lines) and the
    definitions and assignments it uses; imports, comments, docstrings and local names do not count."""
    try:
        if node is None:
            raise ValueError("nothing to fingerprint")
        parts = [_normal_dump(node, anonymous=True)]
        for chunk in helpers:
            if chunk.kind in ("def", "class", "assign"):
                parts.append(_normal_dump(ast.parse(chunk.source).body[0], anonymous=False))
        text = "\n".join(parts)
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError, SyntaxError, IndexError):
        text = "text:" + re.sub(r"\s+", "", fallback)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# ----------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------


def _code_rank(path: str) -> tuple:
    name = path.rsplit("/", 1)[-1]
    rank = 0 if name == "similarity.py" else 1 if name.lower().endswith(".py") else 2
    return (rank, path.count("/"), path)


def discover(folder: Path | str, functions: tuple[str, ...] = ("autoencoder_loss", "contrastive_loss")) -> Submission:
    """Find ``functions`` in the submission ``folder`` by parsing only; never runs submission code.

    Raises ``NotADirectoryError`` when ``folder`` is not a directory (the CLI reports it as a
    usage error); every problem inside the folder becomes a note instead.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    budget = _Budget(time.monotonic() + DISCOVER_SECONDS, MAX_PARSE_BYTES)
    root = os.path.realpath(folder)
    notes = _Notes()
    entries = _walk(root, notes)

    # -- the private copy ------------------------------------------------------------------
    files: dict[str, bytes] = {}
    total = 0
    for entry in sorted(entries, key=_priority):
        if entry.size > MAX_FILE_BYTES:
            notes.add(f"{entry.rel}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refused")
            continue
        if len(files) >= MAX_FILES:
            notes.add(f"{entry.rel}: more than {MAX_FILES} files; skipped")
            continue
        if total + entry.size > MAX_TOTAL_BYTES:
            notes.add(f"{entry.rel}: the submission is over {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all; skipped")
            continue
        data = _read_bytes(entry.path, MAX_FILE_BYTES)
        if isinstance(data, str):
            notes.add(f"{entry.rel}: {data}; refused")
            continue
        if total + len(data) > MAX_TOTAL_BYTES:
            notes.add(f"{entry.rel}: the submission is over {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all; skipped")
            continue
        files[entry.rel] = data
        total += len(data)
    files = dict(sorted(files.items()))

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
    code_paths.sort(key=_code_rank)
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
    for fname in functions:
        try:
            found = _find_function(fname, modules, notes)
        except (RecursionError, MemoryError) as exc:
            notes.add(f"{fname}: the code is too complex to analyse ({type(exc).__name__}); not graded")
            found = None
        if found is not None:
            program, fp = found
            programs[fname] = program
            fingerprints[fname] = fp
    return Submission(programs=programs, files=files, answers_toml=answers, notes=notes.done(),
                      fingerprints=fingerprints)


def _answers(entries: list[_Entry], files: dict[str, bytes], notes: _Notes) -> bytes | None:
    top = [e for e in entries if e.rel == "answers.toml"]
    anywhere = [e for e in entries if e.rel.rsplit("/", 1)[-1] == "answers.toml"]
    if top:
        entry = top[0]
    elif len(anywhere) == 1:
        entry = anywhere[0]
        notes.add(f"answers.toml: using {entry.rel}")
    elif anywhere:
        notes.add(f"answers.toml: none at the top of the folder and {len(anywhere)} elsewhere "
                  f"({', '.join(e.rel for e in anywhere[:4])}); none used")
        return None
    else:
        return None
    if entry.size > MAX_ANSWERS_BYTES or len(files.get(entry.rel, b"")) > MAX_ANSWERS_BYTES:
        notes.add(f"{entry.rel}: larger than {MAX_ANSWERS_BYTES // 1024} KiB; not read")
        return None
    if entry.rel not in files:
        notes.add(f"{entry.rel}: could not be read; written answers not graded")
        return None
    return files[entry.rel]


def _find_function(fname: str, modules: dict[str, _Module], notes: _Notes) -> tuple[Program, str] | None:
    spec = FUNCTION_SPECS.get(fname)
    # 1. handout form, in preference order
    defining = [(m, b) for m in modules.values() if (b := _handout_binding(m, fname)) is not None]
    if defining:
        module, binding = defining[0]
        program, where = _handout_program(module, binding, fname, modules, notes)
        if len(defining) > 1:
            notes.add(f"{fname}: defined in {len(defining)} files ({', '.join(m.path for m, _ in defining[:5])}); "
                      f"using {module.path}")
        notes.add(f"{fname}: taken from {where} (handout form)")
        node = binding.stmt.node
        fp_node = node.value if isinstance(node, ast.Assign) else node
        return program, _fingerprint(fp_node, program.chunks[:-1], program.student_source)
    # 2. course form
    if spec is not None:
        candidates = []
        for module in modules.values():
            got = _course_program(module, fname, spec, modules, _Notes())
            if got is not None:
                candidates.append((got[2], _code_rank(module.path), module))
        if candidates:
            candidates.sort(key=lambda c: (c[0], c[1]))
            module = candidates[0][2]
            program, where, quality, fp_node = _course_program(module, fname, spec, modules, notes)
            if len(candidates) > 1:
                notes.add(f"{fname}: {spec.trainer} found in {len(candidates)} files; using {module.path}")
            notes.add(f"{fname}: taken from {where} (course form: the lines at the FIXME of {spec.trainer})")
            return program, _fingerprint(fp_node, program.chunks[:-1], program.student_source)
    looked = f"a top-level `def {fname}(...)`"
    if spec is not None:
        looked += f" or the training loop of `{spec.trainer}` (course notebook)"
    notes.add(f"{fname}: not found; looked for {looked} in every .py and .ipynb file")
    return None
