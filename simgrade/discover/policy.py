"""The safety policy: which statements may be taken from a submission to run in the sandbox.

Imports (also inside a top-level ``try``/``if``/``with``, and ``try: import x; HAVE_X = True`` /
``except ImportError: HAVE_X = False`` guards), definitions, and module-level assignments whose right-hand side is simple: constants,
arithmetic, lambdas and calls of imported libraries, never loading, opening, subprocesses or training.
Names the grader binds itself (a spec's ``bound``) are never taken from the submission.
"""
from __future__ import annotations

import ast
import builtins
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simgrade.discover.parse import _Module


_BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__"}


_DENY = frozenset({
    "load", "loads", "open", "input", "exec", "eval", "system", "popen", "Popen", "run",
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


def _plain_assign(s: ast.stmt) -> bool:
    """``NAME = constant``, ``NAME = name`` or ``NAME = a.b``: what an import guard may set besides importing."""
    return (isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets)
            and isinstance(s.value, (ast.Constant, ast.Name, ast.Attribute)))


def _import_guard(node: ast.stmt) -> bool:
    """``try: import x; HAVE_X = True  except ImportError: x = None; HAVE_X = False``: the ``try`` (and an
    ``else``) holds at least one import and otherwise only imports, constant flags or pass; each handler
    only imports, plain assignments or pass, and catches only import errors (or ``Exception``, or everything)."""
    if not isinstance(node, ast.Try) or node.finalbody or not node.handlers:
        return False
    if not any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body):
        return False
    plain = (ast.Import, ast.ImportFrom, ast.Pass)
    flag = lambda s: _plain_assign(s) and isinstance(s.value, ast.Constant)  # noqa: E731 - HAVE_X = True
    if not all(isinstance(s, plain) or flag(s) for s in node.body + node.orelse):
        return False
    for handler in node.handlers:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if handler.type is not None and not all(isinstance(t, ast.Name) and t.id in _GUARD_ERRORS for t in types):
            return False
        if not all(isinstance(s, plain) or _plain_assign(s) for s in handler.body):
            return False
    return True


_WELL_KNOWN = frozenset({"torch", "numpy", "einops", "torchvision", "tqdm", "matplotlib", "scipy",
                         "sklearn", "pandas", "PIL", "nbformat", "kornia", "IPython", "google"})
