"""Fingerprints: a hash of the student's code for one function that ignores docstrings, comments,
annotations, import style and the names of parameters and locals."""
from __future__ import annotations

import ast
import copy
import hashlib
import re

from simgrade.discover.model import Chunk


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
