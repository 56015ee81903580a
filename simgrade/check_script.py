"""The student's own check (``check_submission.py`` in the handout kit): a standalone script.

It needs only Python 3.11+ and torch, and holds no answer key and no reference: what it knows of the
homework is a spec generated from the key (each written item's form: :meth:`simgrade.reading.FieldForm.public`,
and each code question's function and its arguments by kind), the same things the blank ``answers.toml`` and
the stubs already show. Like ``grader.py --check``, it echoes how each written answer is read and runs each
function on random inputs for its form only (0-dim tensor, finite, gradient reaching every parameter, inputs
untouched); it says nothing about right or wrong.

The written answers are read by the grader's own code: the script holds the statements of
:data:`VENDORED` that :func:`simgrade.reading.echo` needs, cut from their source when the kit is written
(:func:`vendored`), so its echo is ``--check``'s for every file, and a change to the reading reaches the
next kit without a second copy in the repository.
"""
from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

from simgrade.key import Key
from simgrade.question import Decoder, Encoder, Images, PositivePair, Scalar

FILE_NAME = "check_submission.py"
"""The script's name in the kit."""
VENDORED = ("simgrade.text", "simgrade.expressions", "simgrade.reading")
"""The modules the script's reading is cut from, in order: each imports of the project only those before it."""


def _argument(argument) -> dict:
    if isinstance(argument, Encoder):
        return {"kind": "encoder", "name": argument.name, "unit": argument.unit}
    if isinstance(argument, Decoder):
        return {"kind": "decoder", "name": argument.name}
    if isinstance(argument, Images):
        return {"kind": "images", "name": argument.name}
    if isinstance(argument, PositivePair):
        return {"kind": "pair", "first": argument.first, "second": argument.second, "noise": argument.noise}
    if isinstance(argument, Scalar):
        return {"kind": "scalar", "name": argument.name, "value": argument.typical}
    raise ValueError(f"no check for argument kind {type(argument).__name__}")


def spec(key: Key) -> dict:
    """What the script knows: forms, never answers."""
    from simgrade.written import field_form

    functions = [{"name": q.function, "question": q.question, "arguments": [_argument(a) for a in q.arguments]}
                 for q in key.code]
    return {"handout_file": key.handout_file, "functions": functions,
            "items": [field_form(item, key.max_expression_length).public() for item in key.items]}


# ----------------------------------------------------------------------------- the vendored reading

def _binds(node: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _reads(node: ast.AST) -> set[str]:
    """The names a statement reads when it runs or its functions are called; annotations are left out (every
    vendored module has ``from __future__ import annotations``: they are never evaluated)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            names.add(n.id)
        for name, child in ast.iter_fields(n):
            if name in ("annotation", "returns"):
                continue
            stack.extend(c for c in (child if isinstance(child, list) else [child]) if isinstance(c, ast.AST))
    return names


def _statements(module: str) -> list[tuple[ast.stmt, str]]:
    """The top-level statements of ``module`` with their source text; an attribute docstring goes with the statement
    before it, the module's own docstring and its ``__future__`` import are left out."""
    source = Path(importlib.import_module(module).__file__).read_text(encoding="utf-8")
    lines = source.split("\n")
    out: list[tuple[ast.stmt, str]] = []
    for i, node in enumerate(ast.parse(source).body):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            if i and out:
                out[-1] = (out[-1][0], out[-1][1] + "\n" + ast.get_source_segment(source, node))
        elif not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out.append((node, "\n".join(lines[first - 1:node.end_lineno])))
    return out


def vendored(body: str) -> tuple[list[str], str]:
    """What of :data:`VENDORED` the code ``body`` needs, transitively: the import lines (one name each, only the
    names used) and the other statements' source, in module order. Imports from a vendored module are dropped:
    what they bring is vendored alongside. Raises ``ValueError`` when two kept statements, or one and ``body``,
    bind the same name, since one namespace holds them all."""
    statements: list[tuple[str, ast.stmt, str]] = []
    defined: dict[tuple[str, str], int] = {}  # (module, name) -> the statement of that module binding it
    imported: dict[tuple[str, str], str] = {}  # (module, name) -> the vendored module it imports the name from
    for module in VENDORED:
        for node, text in _statements(module):
            if isinstance(node, ast.ImportFrom) and node.module in VENDORED:
                imported.update({(module, a.asname or a.name): node.module for a in node.names})
                continue
            defined.update({(module, name): len(statements) for name in _binds(node)})
            statements.append((module, node, text))
    used: dict[int, set[str]] = {}  # kept statement -> the names of it that something reads
    todo = [(VENDORED[-1], name) for name in _reads(ast.parse(body))]
    while todo:
        module, name = todo.pop()
        module = imported.get((module, name), module)
        index = defined.get((module, name))
        if index is None or name in used.get(index, ()):
            continue  # a builtin, a name of body's own, or already kept
        used.setdefault(index, set()).add(name)
        todo += [(module, n) for n in _reads(statements[index][1])]
    owner = {name: "the script" for node in ast.parse(body).body for name in _binds(node)}
    imports: dict[str, None] = {}
    code = []
    for index in sorted(used):
        module, node, text = statements[index]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) in used[index]:
                    one = ast.ImportFrom(node.module, [alias], 0) if isinstance(node, ast.ImportFrom) else ast.Import([alias])
                    imports[ast.unparse(one)] = None
            continue
        for name in _binds(node):
            if owner.setdefault(name, module) != module:
                raise ValueError(f"{name} is bound by {owner[name]} and by {module}: rename one")
        code.append(text)
    return list(imports), "\n\n\n".join(code) + "\n"


def script_text(key: Key) -> str:
    """The script: its docstring, the imports, the vendored reading, its spec, then its own code."""
    imports, code = vendored(_BODY)
    imports = sorted(set(imports) | set(_IMPORTS), key=lambda line: (line.startswith("from"), line))
    return (_HEADER + "\n".join(imports) + "\n\n"
            + f"# The grader's reading of answers.toml: cut from {', '.join(VENDORED)} when this kit was written.\n\n"
            + code + "\n\nSPEC = json.loads(" + repr(json.dumps(spec(key), sort_keys=True)) + ")\n" + _BODY)


_IMPORTS = ("import importlib.util", "import json", "import sys", "from pathlib import Path")
"""What the script's own code imports."""

_HEADER = '''#!/usr/bin/env python3
"""Check your submission before handing it in:  python check_submission.py [FOLDER]

FOLDER (default: this script's folder) holds answers.toml and the handout's Python file. The check
shows how each written answer is read (by the grader's own code) and whether each function runs and
returns a 0-dim tensor that is finite, carries gradient to every parameter and leaves its inputs
unchanged, on random inputs. It has no answer key and says nothing about whether an answer is right.
It imports your Python file: keep training and data loading out of it.
"""
from __future__ import annotations

'''

_BODY = r'''

def answers_file(folder):
    """answers.toml where the grader takes it: at the top of the folder, else the only one below it."""
    top = folder / "answers.toml"
    if top.is_file():
        return top
    found = sorted(p for p in folder.rglob("answers.toml") if p.is_file() and not p.is_symlink())
    if len(found) == 1:
        print(f"answers.toml: using {found[0].relative_to(folder)}")
        return found[0]
    if found:
        print(f"answers.toml: none at the top of the folder and {len(found)} elsewhere; none used")
    return None


def check_answers(folder):
    """Echo how the grader reads answers.toml (reading.echo, vendored above)."""
    path = answers_file(folder)
    seen = echo(path.read_bytes() if path else None, [FieldForm.from_data(f) for f in SPEC["items"]])
    print("\n".join(seen.lines()))
    return seen


def build(argument, batch, dim, torch):
    nn = torch.nn
    pixels = 3 * 4 * 4
    if argument["kind"] == "encoder":
        net = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 8), nn.Tanh(), nn.Linear(8, dim)).double()

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                z = self.net(x)
                return torch.nn.functional.normalize(z, dim=1) if argument["unit"] else z
        return {argument["name"]: Encoder()}
    if argument["kind"] == "decoder":
        return {argument["name"]: nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, pixels),
                                                nn.Unflatten(1, (3, 4, 4))).double()}
    if argument["kind"] == "images":
        return {argument["name"]: torch.rand(batch, 3, 4, 4, dtype=torch.float64) * 2 - 1}
    if argument["kind"] == "pair":
        first = torch.rand(batch, 3, 4, 4, dtype=torch.float64) * 2 - 1
        return {argument["first"]: first, argument["second"]: first + argument["noise"] * torch.randn_like(first)}
    return {argument["name"]: float(argument["value"])}


def check_function(function, spec, torch):
    for batch, dim in ((2, 3), (5, 8), (1, 1)):
        values = {}
        for argument in spec["arguments"]:
            values.update(build(argument, batch, dim, torch))
        before = {n: v.detach().clone() for n, v in values.items() if torch.is_tensor(v)}
        params = {f"{n}.{p}": t for n, m in values.items() if isinstance(m, torch.nn.Module)
                  for p, t in m.named_parameters()}
        before.update({n: t.detach().clone() for n, t in params.items()})
        order = []
        for a in spec["arguments"]:
            order += [a["first"], a["second"]] if a["kind"] == "pair" else [a["name"]]
        where = f"B={batch}, d={dim}"
        try:
            result = function(*[values[n] for n in order])
        except NotImplementedError:
            return [(False, "still raises NotImplementedError (the FIXME stub is not filled in)")]
        except Exception as error:  # noqa: BLE001
            return [(False, f"on random inputs ({where}) it raised {type(error).__name__}: {error}")]
        if not torch.is_tensor(result) or type(result) is not torch.Tensor:
            return [(False, f"returns a {type(result).__name__}, not a plain torch.Tensor")]
        if result.dim() != 0:
            return [(False, f"returns a tensor of shape {tuple(result.shape)}, not a 0-dim tensor ({where})")]
        if not torch.isfinite(result).all():
            return [(False, f"the value is not finite ({where})")]
        if not result.requires_grad:
            return [(False, f"the returned tensor carries no gradient ({where})")]
        grads = torch.autograd.grad(result, list(params.values()), allow_unused=True)
        missing = [n for n, g in zip(params, grads) if g is None]
        if missing:
            return [(False, f"no gradient reaches {', '.join(missing)} ({where})")]
        changed = [n for n, v in {**{n: v for n, v in values.items() if torch.is_tensor(v)}, **params}.items()
                   if not torch.equal(v.detach(), before[n])]
        if changed:
            return [(False, f"modifies its inputs in place ({', '.join(changed)}) ({where})")]
    return [(True, "runs on random inputs and returns a finite 0-dim tensor that carries gradient to every "
                   "parameter, leaving its inputs unchanged")]


def check_code(folder):
    print("\nCode")
    path = folder / SPEC["handout_file"]
    if not path.is_file():
        notebooks = sorted(p.name for p in folder.glob("*.ipynb"))
        print(f"  ! no {SPEC['handout_file']} in {folder}" + (f" (notebooks: {', '.join(notebooks)}: this script "
              "checks the handout file only; the grader reads notebooks too)" if notebooks else ""))
        return 0
    try:
        import torch
    except ImportError:
        print("  ! torch is not installed here: the functions cannot be run")
        return 0
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("submission_under_check", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - a SystemExit or an error at import
        print(f"  ! importing {path.name} failed: {type(error).__name__}: {error}")
        return 0
    good = 0
    for fn in SPEC["functions"]:
        function = getattr(module, fn["name"], None)
        print(f"  {fn['name']} (question {fn['question']})")
        if not callable(function):
            print(f"    [!!] not found in {path.name}")
            continue
        results = check_function(function, fn, torch)
        good += all(ok for ok, _ in results)
        for ok, line in results:
            print(f"    [{'ok' if ok else '!!'}] {line}")
    return good


def main(argv):
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    print(f"check_submission: {folder}")
    print("This check shows how your answers are read; it says nothing about your grade (it has no answer key).\n")
    seen = check_answers(folder)
    good = check_code(folder)
    print(f"\nSummary: {seen.summary()}; {good} of {len(SPEC['functions'])} functions found and of the expected form.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''
