"""Expression answers of ``answers.toml``: a restricted parser and an equivalence test.

Student text is never given to ``eval``, ``sympify`` or a plain ``parse_expr``, which execute
code. :func:`parse_expression` instead

1. refuses text longer than the key's ``max_expression_length``;
2. maps a few typographic characters (``θ``, ``π``, ``−``, ``×``, ``²``), drops zero-width
   characters (not bidi controls, which are refused) and NFKC-normalises;
   anything still outside printable ASCII is refused;
3. splits a number from a following name (``2cos`` -> ``2 cos``, so every Python version
   tokenizes alike), tokenizes with Python's :mod:`tokenize` and keeps only a whitelist: short
   decimal literals (no exponents, no hex, no ``j``, no ``_``), the operators ``+ - * / ** ^ ( ) ,``, and names that are
   the item's symbols or the functions and constants of :data:`FUNCTIONS` / :data:`CONSTANTS`
   (matched case-insensitively when that is unambiguous; ``ln`` = ``log``); no strings,
   keywords, attribute access, subscripts, comments; parentheses nested at most
   :data:`MAX_DEPTH` deep;
4. rebuilds the text from those tokens alone and parses it with ``parse_expr`` under a minimal
   ``global_dict`` (no builtins: ``__builtins__`` is an empty dict), a ``local_dict`` of
   Symbols, ``evaluate=False``, ``^`` as power and implicit multiplication (``2cos(theta)``);
5. walks the unevaluated tree *before anything evaluates it*: every power's exponent must
   stay within :data:`MAX_EXPONENT` and every power's magnitude within 10^:data:`MAX_LOG10`
   at the sample points, computed in a private 50-digit mpmath context in which every value
   beyond 10^300 becomes NaN, so nothing grows (``9**9**9``, ``2**2**2**2**2**2``,
   ``((9**8)**8)**8`` are refused in microseconds).

:func:`equivalent` compares a student expression with the key's accepted forms: a fast path of
normalised-text equality that does not import sympy, then a numeric comparison at fixed
pseudo-random points (decisive when it is conclusive) and ``simplify(a - b) == 0`` as the
symbolic opinion, bounded by :data:`SIMPLIFY_SECONDS` (a SIGALRM timer in the main thread; skipped
elsewhere). sympy is imported lazily, only when the fast path does not decide.
"""
from __future__ import annotations

import io
import keyword
import random
import re
import time
import tokenize
import unicodedata
from collections.abc import Iterable

FUNCTIONS = ("cos", "sin", "tan", "sqrt", "exp", "log")
"""Functions a student expression may call."""
CONSTANTS = ("pi", "E")
"""Constants a student expression may use."""
ALIASES = {"ln": "log", "θ": "theta", "ϑ": "theta", "π": "pi"}
"""Other spellings, mapped onto an allowed name (``theta`` only where it is a symbol)."""
MAX_DEPTH = 20
"""Deepest parenthesis nesting accepted."""
MAX_NUMBER_DIGITS = 15
"""Most digits in one numeric literal."""
MAX_EXPONENT = 8
"""Largest absolute value of an exponent (at the sample points)."""
MAX_LOG10 = 300
"""Largest |log10| of any power's value (at the sample points)."""
SIMPLIFY_MAX_OPS = 60
"""Differences with more operations than this are left to the numeric check (simplify can take minutes)."""
SIMPLIFY_SECONDS = 2.0
"""Wall-time limit of sympy's simplify (a SIGALRM timer, main thread only)."""
SAMPLE_POINTS = 8
"""Points of the numeric check."""
MIN_CONCLUSIVE_POINTS = 4
"""Finite points needed for the numeric check to decide."""
RTOL = 1e-30
"""Relative tolerance of the numeric check. Values are computed in 50 digits with every decimal
literal read as an exact fraction (``0.1`` is 1/10), so equivalent forms agree to ~1e-45 and a
perturbation (``cos(theta + 0.0000000001)``) is a difference, not a rounding error."""

_SEED = 20240917
_OPERATORS = {"+", "-", "*", "/", "**", "^", "(", ")", ","}
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)\Z")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_TRANSLATE = str.maketrans({
    "−": "-", "–": "-", "‐": "-", "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/",
    "²": "**2", "³": "**3", "θ": " theta ", "ϑ": " theta ", "π": " pi ",
})
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")  # zero-width, BOM, soft hyphen
# names the parser's generated code uses besides the whitelist; a symbol may not shadow them
_PARSER_NAMES = {"Integer", "Float", "Rational", "Add", "Mul", "Pow", "Symbol"}


class ExpressionError(ValueError):
    """An expression that is not allowed or cannot be parsed; ``str()`` is the student-facing message."""


# ----------------------------------------------------------------------------- text level

def _clean_text(text: str) -> str:
    """Typographic characters mapped, zero-width characters and BOM dropped,
    NFKC-normalised, whitespace collapsed."""
    text = "".join(c for c in text if c not in _INVISIBLE)
    text = unicodedata.normalize("NFKC", text.translate(_TRANSLATE))
    return " ".join(text.split())


def _fast_form(text: str) -> str:
    """A normal form of the text for plain string comparison (no parsing, no sympy)."""
    s = re.sub(r"(?<=[A-Za-z0-9_.]) (?=[A-Za-z0-9_.])", "*", _clean_text(text))  # "2 N" is 2*N
    s = s.replace(" ", "").replace("^", "**")
    s = re.sub(r"(?<![A-Za-z_0-9.])(\d+(?:\.\d*)?)(?=[A-Za-z(])", r"\1*", s)  # 2cos -> 2*cos
    s = s.replace(")(", ")*(")
    return s


def _check_symbols(symbols: Iterable[str]) -> tuple[str, ...]:
    syms = tuple(symbols)
    for s in syms:
        if (not isinstance(s, str) or not _IDENTIFIER.match(s) or keyword.iskeyword(s)
                or s in FUNCTIONS or s in CONSTANTS or s in _PARSER_NAMES):
            raise ValueError(f"answer key: {s!r} cannot be an expression symbol")
    return syms


def _name_table(symbols: tuple[str, ...]) -> dict[str, str]:
    """Every accepted spelling of a name -> its canonical name."""
    canonical = list(symbols) + list(FUNCTIONS) + list(CONSTANTS)
    table = {name: name for name in canonical}
    folded: dict[str, list[str]] = {}
    for name in canonical:
        folded.setdefault(name.lower(), []).append(name)
    for low, names in folded.items():
        if len(names) == 1:
            table.setdefault(low, names[0])
    for alias, target in ALIASES.items():
        if target in canonical:
            table.setdefault(alias, target)
    return table


def _describe_names(symbols: tuple[str, ...]) -> str:
    return (f"symbols {', '.join(symbols) or '(none)'}; functions {', '.join(FUNCTIONS)}; "
            f"constants {', '.join(CONSTANTS)}")


_NUMBER_THEN_NAME = re.compile(r"(?<![A-Za-z_0-9.])(\d+\.?\d*|\.\d+)(?=[A-Za-z_])")
_LITERAL_SUFFIX = re.compile(r"[eE][+-]?\d|[jJ](?!\w)|_")


def _split_number_name(m: re.Match) -> str:
    """``2cos`` -> ``2 cos`` (implicit multiplication, tokenized the same on every Python);
    exponent, hex/octal/binary, imaginary and underscore literals are refused instead."""
    number, rest = m.group(1), m.string[m.end():]
    if _LITERAL_SUFFIX.match(rest) or (number == "0" and rest[0] in "xXoObB"):
        shown = m.string[m.start():m.end() + 6]
        raise ExpressionError(f"number {shown!r} is not allowed: write plain decimals like 2 or 0.5")
    return number + " "


def _exact_decimal(literal: str) -> str:
    """``0.25`` -> ``(25/100)``: a decimal literal as an exact fraction of integers."""
    whole, _, frac = literal.partition(".")
    if not frac.strip("0"):
        return str(int(whole or "0"))
    return f"({int((whole or '0') + frac)}/{10 ** len(frac)})"


# ----------------------------------------------------------------------------- spellings a TA reads
# LaTeX, a leading "C =", a trailing period, chained equalities and vector inner products are
# rewritten at the text level into the plain syntax above; the result still goes through the
# whitelisting tokenizer, so nothing here widens what can be evaluated.

_LATEX_NAMES = ("vartheta", "theta", "pi", "cos", "sin", "tan", "exp", "log", "ln", "sqrt")
_LATEX_GROUP_LIMIT = 50


def _brace_group(s: str, i: int) -> tuple[str, int] | None:
    """The text of the ``{...}`` group starting at ``s[i]`` (spaces skipped) and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s) or s[i] != "{":
        return None
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
    return None


def _delatex(text: str) -> str:
    """LaTeX math spelled as plain syntax: ``\\frac{a}{b}`` -> ``((a)/(b))``, ``\\sqrt{x}`` -> ``sqrt(x)``,
    ``\\cos``/``\\theta``/``\\pi`` -> names, ``\\left(``/``\\right)`` -> brackets, ``\\cdot``/``\\times`` -> ``*``,
    ``\\langle u, v\\rangle`` -> ``<u, v>``, braces -> parentheses, ``$`` and spacing commands dropped.
    An unknown command keeps its backslash, which the tokenizer refuses."""
    if "\\" not in text and "{" not in text and "$" not in text:
        return text
    s = text.replace("$", " ")
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|bigg|Bigg)\s*(\\[{}|]|[()\[\]|.])",
               lambda m: "" if m.group(1) == "." else m.group(1).lstrip("\\"), s)
    s = re.sub(r"\\[,;:! ]|\\quad\b|\\qquad\b", " ", s)
    s = re.sub(r"\\(?:cdot|times|ast)(?![A-Za-z])", "*", s)
    s = re.sub(r"\\div(?![A-Za-z])", "/", s)
    s = re.sub(r"\\langle(?![A-Za-z])", "<", s)
    s = re.sub(r"\\rangle(?![A-Za-z])", ">", s)
    s = re.sub(r"\\(?:mathrm|operatorname|mathit|text)\s*\{([A-Za-z ]*)\}", r" \1 ", s)
    for _ in range(_LATEX_GROUP_LIMIT):
        m = re.search(r"\\[dt]?frac(?![A-Za-z])", s)
        if not m:
            break
        num = _brace_group(s, m.end())
        den = _brace_group(s, num[1]) if num else None
        if not den:
            break  # malformed: the backslash stays and is refused
        s = s[:m.start()] + f"(({num[0]})/({den[0]}))" + s[den[1]:]
    s = re.sub(r"\\(" + "|".join(_LATEX_NAMES) + r")(?![A-Za-z])", r" \1 ", s)
    s = re.sub(r"\^\s*\{\s*([A-Za-z0-9.]+)\s*\}", r"^\1", s)  # ^{2} -> ^2, ^{T} -> ^T
    return s.replace("{", "(").replace("}", ")")


_TRANSPOSE = r"(?:\s*\^\s*\(?\s*(?:T|t|\\top|\\intercal|\\mathsf\(T\))\s*\)?|\s*')"


def _inner_products(text: str, products: dict[str, str]) -> str:
    """``u^T v``, ``u'v``, ``u·v``, ``u.v``, ``<u, v>``, ``dot(u, v)`` (either order) -> ``(replacement)``,
    for every ``"u.v" = "replacement"`` of the key's ``substitute``."""
    for pair, replacement in products.items():
        a, b = (p.strip() for p in pair.split(".", 1))
        for x, y in ((a, b), (b, a)):
            x, y = re.escape(x), re.escape(y)
            for pattern in (rf"(?<![A-Za-z_]){x}{_TRANSPOSE}\s*\*?\s*{y}(?![A-Za-z0-9_(])",
                            rf"(?<![A-Za-z_]){x}\s*[*.]\s*{y}(?![A-Za-z0-9_(])",
                            rf"[<⟨]\s*{x}\s*,\s*{y}\s*[>⟩]",
                            rf"(?<![A-Za-z_])dot\s*\(\s*{x}\s*,\s*{y}\s*\)"):
                text = re.sub(pattern, f"({replacement})", text)
    return text


_PROSE = re.compile(r"[A-Za-z]{3,}")
_REMARK_START = re.compile(r",|;|\s(?:where|i\.e\.|since|because|as|with|for)\s", re.IGNORECASE)


def _drop_remark(s: str, names: dict[str, str]) -> str:
    """The expression without a remark in words after it: ``N (the batch size)``, ``N, the batch size``,
    ``N where N is B``. A remark is a final parenthesis, or what follows a comma, a semicolon or a
    linking word, holding a word of three letters or more that is no name an expression may use."""
    def prose(text: str) -> bool:
        return any(w not in names and w.lower() not in names for w in _PROSE.findall(text))

    s = s.strip()
    if s.endswith(")"):
        depth = 0
        for k in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[k], 0)
            if depth == 0:
                if s[:k].strip() and prose(s[k + 1:-1]):
                    s = s[:k].strip()
                break
    for start in _REMARK_START.finditer(s):
        if s[:start.start()].strip() and prose(s[start.start():]):
            return s[:start.start()].strip()
    return s


def split_sides(text: str, symbols: Iterable[str] = (), products: dict[str, str] | None = None) -> list[str]:
    """The expressions a student's text states, in plain syntax: LaTeX rewritten, inner products
    substituted, a remark in words after it dropped (:func:`_drop_remark`), a final ``.`` dropped, split at
    ``=`` (a chain ``a = b = c`` gives every side). A first side that only names the quantity (``C =``,
    ``||u - v||^2 =``, a leading ``=``) is dropped."""
    s = _inner_products(_clean_text(_delatex(text)), products or {})
    s = _drop_remark(s, _name_table(tuple(symbols)))
    s = re.sub(r"[\s.,;]+\Z", "", s)
    s = re.sub(r"==+", "=", s)
    if "=" not in s:
        return [s]
    sides = [side.strip() for side in s.split("=")]
    first, names = sides[0], _name_table(tuple(symbols))
    if not first or "|" in first or "‖" in first or (
            _IDENTIFIER.match(first) and first not in names and first.lower() not in names):
        sides = sides[1:]
    return sides


def _tokens(text: str, symbols: tuple[str, ...], max_length: int) -> list[str]:
    """The whitelisted tokens of ``text`` (canonical spellings), or ExpressionError."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    if len(text) > max_length:
        raise ExpressionError(f"expression too long ({len(text)} characters; at most {max_length})")
    text = _clean_text(text)
    if len(text) > max_length:
        raise ExpressionError(f"expression too long ({len(text)} characters; at most {max_length})")
    if not text:
        raise ExpressionError("empty expression")
    for ch in text:
        if not (" " <= ch <= "~"):
            raise ExpressionError(f"character {ch!r} (U+{ord(ch):04X}) is not allowed in an expression")
    for ch in "'\"`#\\;:[]{}@!=<>|&~$?":
        if ch in text:
            raise ExpressionError(f"character {ch!r} is not allowed in an expression")
    names = _name_table(symbols)
    text = _NUMBER_THEN_NAME.sub(_split_number_name, text)
    out: list[str] = []
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind, value = tok.type, tok.string
            if kind in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
                continue
            if kind == tokenize.NUMBER:
                if not _NUMBER.match(value):
                    raise ExpressionError(
                        f"number {value!r} is not allowed: write plain decimals like 2 or 0.5")
                if sum(c.isdigit() for c in value) > MAX_NUMBER_DIGITS:
                    raise ExpressionError(f"number {value[:20]!r}... has more than {MAX_NUMBER_DIGITS} digits")
                out.append(str(int(value)) if value.isdigit() else _exact_decimal(value))
            elif kind == tokenize.OP:
                if value not in _OPERATORS:
                    raise ExpressionError(
                        f"operator {value!r} is not allowed (allowed: + - * / ** ^ ( ) ,)")
                if value == "(":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise ExpressionError(f"parentheses nested more than {MAX_DEPTH} deep")
                elif value == ")":
                    depth -= 1
                    if depth < 0:
                        raise ExpressionError("unbalanced parentheses: ')' without '('")
                out.append(value)
            elif kind == tokenize.NAME:
                if keyword.iskeyword(value) or value.startswith("_"):
                    raise ExpressionError(f"{value!r} is not allowed in an expression")
                canonical = names.get(value) or names.get(value.lower())
                if canonical is None:
                    raise ExpressionError(
                        f"unknown name {value[:40]!r}; allowed: {_describe_names(symbols)}")
                out.append(canonical)
            else:
                raise ExpressionError(f"{value[:20]!r} is not allowed in an expression")
    except tokenize.TokenError:
        raise ExpressionError("unbalanced parentheses: '(' without ')'") from None
    except (SyntaxError, ValueError) as err:  # IndentationError etc. from the tokenizer
        if isinstance(err, ExpressionError):
            raise
        raise ExpressionError("could not read the expression") from None
    if depth != 0:
        raise ExpressionError("unbalanced parentheses: '(' without ')'")
    if not out:
        raise ExpressionError("empty expression")
    return out


# ----------------------------------------------------------------------------- sympy level

_SYMPY: dict = {}


def _mp_context():
    import mpmath  # a dependency of sympy
    ctx = mpmath.MPContext()
    ctx.dps = 50
    return ctx


def _sympy() -> dict:
    """The few sympy objects the parser needs, imported on first use."""
    if not _SYMPY:
        import sympy
        from sympy.parsing.sympy_parser import (
            auto_number, convert_xor, function_exponentiation, implicit_application,
            implicit_multiplication, parse_expr)
        _SYMPY.update(
            sympy=sympy,
            parse_expr=parse_expr,
            transformations=(auto_number, convert_xor, implicit_multiplication,
                             implicit_application, function_exponentiation),
            globals={
                "Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational,
                "Add": sympy.Add, "Mul": sympy.Mul, "Pow": sympy.Pow,
                "cos": sympy.cos, "sin": sympy.sin, "tan": sympy.tan, "sqrt": sympy.sqrt,
                "exp": sympy.exp, "log": sympy.log, "pi": sympy.pi, "E": sympy.E,
            },
            mp=_mp_context(),
        )
    return _SYMPY


def preload() -> None:
    """Import sympy and mpmath now (~0.4 s), e.g. in a background thread while the sandbox starts,
    so that the first expression off the fast path does not pay for it."""
    _sympy()


def _sample_points(symbols: tuple[str, ...], substitute: dict[str, str]) -> list[dict[str, str]]:
    """Fixed pseudo-random values for every symbol (deterministic); substituted names share values."""
    rng = random.Random(_SEED)
    points = []
    for _ in range(SAMPLE_POINTS):
        env = {s: f"{rng.uniform(0.2, 2.9):.6f}" for s in sorted(symbols)}
        for src, dst in substitute.items():
            if src in env and dst in env:
                env[src] = env[dst]
        points.append(env)
    return points


class _Evaluator:
    """Evaluates an unevaluated parse tree at one point, 50 digits, enforcing the size guards.

    Values run in a private mpmath context (no floating-point cancellation worries at 1e-9);
    anything beyond 10^MAX_LOG10 becomes NaN, as a float would overflow, so no value ever grows.
    """

    def __init__(self, env: dict[str, str]):
        sp = _sympy()
        self.sympy = sp["sympy"]
        self.ctx = ctx = sp["mp"]
        self.env = {name: ctx.mpc(ctx.mpf(v)) for name, v in env.items()}
        self.nan = ctx.mpc(ctx.nan)
        self.big = ctx.mpf(10) ** MAX_LOG10

    def _bounded(self, z):
        ctx = self.ctx
        if not (ctx.isfinite(z.real) and ctx.isfinite(z.imag)) or abs(z) > self.big:
            return self.nan
        return z

    def value(self, e):
        sympy, ctx = self.sympy, self.ctx
        if isinstance(e, sympy.Integer):
            return self._bounded(ctx.mpc(int(e.p)))
        if isinstance(e, sympy.Rational):
            return ctx.mpc(ctx.mpf(int(e.p)) / int(e.q))
        if isinstance(e, sympy.Float):
            return ctx.mpc(ctx.mpf(e._mpf_))
        if e is sympy.pi:
            return ctx.mpc(ctx.pi)
        if e is sympy.E:
            return ctx.mpc(ctx.e)
        if isinstance(e, sympy.Symbol):
            return self.env[e.name]
        if isinstance(e, sympy.Add):
            out = ctx.mpc(0)
            for a in e.args:
                out = self._bounded(out + self.value(a))
            return out
        if isinstance(e, sympy.Mul):
            out = ctx.mpc(1)
            for a in e.args:
                out = self._bounded(out * self.value(a))
            return out
        if isinstance(e, sympy.Pow):
            return self.power(*e.args)
        if e.func in (sympy.cos, sympy.sin, sympy.tan, sympy.exp, sympy.log) and 1 <= len(e.args) <= 2:
            args = [self.value(a) for a in e.args]
            if any(self._bounded(a) is self.nan for a in args):
                return self.nan
            if e.func is sympy.log:
                if any(a == 0 for a in args):
                    return self.nan
                out = ctx.log(args[0])
                if len(args) == 2:
                    base = ctx.log(args[1])
                    out = out / base if base != 0 else self.nan
                return self._bounded(out)
            if len(args) != 1:
                raise ExpressionError(f"{e.func.__name__} takes one argument")
            (a,) = args
            if e.func is sympy.exp:
                return self.nan if a.real > 2 * MAX_LOG10 else self._bounded(ctx.exp(a))
            if abs(a.imag) > MAX_LOG10:  # cos/sin/tan of a huge imaginary part overflow
                return self.nan
            fn = {sympy.cos: ctx.cos, sympy.sin: ctx.sin, sympy.tan: ctx.tan}[e.func]
            try:
                return self._bounded(fn(a))
            except (ZeroDivisionError, ValueError):
                return self.nan
        raise ExpressionError("not a single expression")

    def power(self, base, exponent):
        ctx = self.ctx
        x = self.value(exponent)
        if x is self.nan:
            raise ExpressionError("exponent too large (it overflows)")
        if abs(x) > MAX_EXPONENT:
            raise ExpressionError(f"exponent too large (|exponent| may be at most {MAX_EXPONENT})")
        b = self.value(base)
        if b is self.nan:
            return self.nan
        if b == 0:
            return self.nan if x.real <= 0 else ctx.mpc(0)
        if abs(x) * abs(ctx.log10(abs(b))) > MAX_LOG10:
            raise ExpressionError(f"number too large (a power beyond 10^{MAX_LOG10})")
        return self._bounded(ctx.power(b, x))


def _finite(z) -> bool:
    """Not NaN (the evaluator maps every overflow and undefined value to NaN)."""
    return bool(z == z)


def _parse_unevaluated(text: str, symbols: tuple[str, ...], max_length: int):
    """Whitelisted, rebuilt, parsed with evaluate=False; not yet guarded."""
    tokens = _tokens(text, symbols, max_length)
    sp = _sympy()
    sympy = sp["sympy"]
    local = {s: sympy.Symbol(s) for s in symbols}
    global_dict = dict(sp["globals"], __builtins__={})
    try:
        expr = sp["parse_expr"](" ".join(tokens), local_dict=local, global_dict=global_dict,
                                transformations=sp["transformations"], evaluate=False)
    except Exception as err:  # any parser or construction error is a malformed expression
        raise ExpressionError(f"could not parse the expression ({type(err).__name__})") from None
    if not isinstance(expr, sympy.Expr):
        raise ExpressionError("not a single expression (a comma outside a function call?)")
    return expr


def _guard(expr, points: list[dict[str, str]]) -> list:
    """Walks the unevaluated tree at every sample point (raising on oversized powers); the values
    (mpmath complex numbers, NaN where undefined or overflowing)."""
    return [_Evaluator(env).value(expr) for env in points]


def parse_expression(text: str, symbols: Iterable[str], max_length: int):
    """Parse a student expression safely; a sympy ``Expr`` (evaluated), or :class:`ExpressionError`.

    ``symbols`` are the names the expression may use; ``max_length`` bounds the text.
    Nothing is evaluated before the size guards have passed.
    """
    syms = _check_symbols(symbols)
    expr = _parse_unevaluated(text, syms, max_length)
    _guard(expr, _sample_points(syms, {}))
    try:
        return expr.doit()
    except Exception as err:
        raise ExpressionError(f"could not evaluate the expression ({type(err).__name__})") from None


def _show(z) -> str:
    re_, im = float(z.real), float(z.imag)
    if abs(im) <= 1e-12 * max(1.0, abs(re_)):
        return f"{re_:.6g}"
    return f"{re_:.6g}{im:+.6g}i"


def equivalent(student: str, accepted: list[str], symbols: Iterable[str], substitute: dict[str, str],
               max_length: int) -> tuple[bool, str]:
    """Is ``student`` equivalent to the key's expression? ``(verdict, explanation)``.

    ``accepted`` holds the staff answer first, then other accepted forms (all trusted, all
    equivalent). ``substitute`` maps a symbol onto another before comparing (``K -> N``); an entry
    whose name holds a dot (``"u.v" = "cos(theta)"``) declares an inner product of two vectors, and
    every spelling of it (``u^T v``, ``u·v``, ``<u, v>``) is replaced by its value.
    The student's text may be LaTeX, start with ``=`` or ``C =``, end with a period, or chain
    equalities (``a = b``): every side must be equivalent.
    The explanation never states the expected expression or its values.
    """
    syms = _check_symbols(symbols)
    substitute = dict(substitute or {})
    products = {k: v for k, v in substitute.items() if "." in k}
    renames = {k: v for k, v in substitute.items() if "." not in k}
    if not isinstance(student, str):
        return False, "an expression must be a string"
    if len(student) > max_length:
        return False, f"not accepted: expression too long ({len(student)} characters; at most {max_length})"
    sides = split_sides(student, syms, products)
    if any(not side for side in sides):
        return False, "not accepted: an empty side of '='"
    if len(sides) > 1:
        for k, side in enumerate(sides, 1):
            ok, why = _equivalent_side(side, accepted, syms, renames, max_length)
            if not ok:
                return False, f"side {k} of {len(sides)} of the equality: {why}" if not why.startswith("not accepted") else why
        return True, f"all {len(sides)} sides of the equality are equivalent"
    return _equivalent_side(sides[0], accepted, syms, renames, max_length)


def _equivalent_side(student: str, accepted: list[str], syms: tuple[str, ...], substitute: dict[str, str],
                     max_length: int) -> tuple[bool, str]:
    """One expression (already in plain syntax) against the key."""
    forms = {_fast_form(a) for a in accepted}
    if _fast_form(student) in forms:
        return True, "matches an accepted form"
    try:
        mine = _parse_unevaluated(student, syms, max_length)
        points = _sample_points(syms, substitute)
        mine_values = _guard(mine, points)
    except ExpressionError as err:
        return False, f"not accepted: {err}"
    key = _parse_unevaluated(accepted[0], syms, max(max_length, len(accepted[0])))
    key_values = _guard(key, points)

    # numeric opinion: decisive when enough points are finite on both sides
    finite = [(env, m, k) for env, m, k in zip(points, mine_values, key_values) if _finite(m) and _finite(k)]
    for env, m, k in finite:
        if abs(m - k) > RTOL * max(1.0, abs(m), abs(k)):
            at = ", ".join(f"{s} = {float(v):g}" for s, v in env.items() if s not in substitute)
            return False, (f"not equivalent to the expected expression: at {at or 'every point'} "
                           f"yours evaluates to {_show(m)}, which differs")
    numeric_ok = len(finite) >= MIN_CONCLUSIVE_POINTS

    # symbolic opinion, time-bounded: sympy's simplify has no size guard of its own
    # (``exp(99999999999999)`` sends it into a polynomial of that degree)
    symbolic, why_not = _symbolic_zero(mine, key, substitute)
    n = len(finite)
    if symbolic and numeric_ok:
        return True, f"equivalent: sympy simplifies the difference to 0 and the values agree at {n} points"
    if symbolic:
        return True, "equivalent: sympy simplifies the difference to 0 (the numeric check was inconclusive)"
    if numeric_ok:
        return True, f"equivalent: the values agree to {RTOL:g} at all {n} test points (sympy {why_not})"
    return False, ("not accepted: could not be shown equivalent (the expression is undefined or "
                   f"overflows at most test points, and sympy {why_not})")


class _OutOfTime(BaseException):
    """Raised by the SIGALRM handler; a BaseException so that sympy's ``except Exception`` cannot swallow it."""


def _symbolic_zero(mine, key, substitute: dict[str, str]) -> tuple[bool | None, str]:
    """``simplify(mine - key) == 0`` within SIMPLIFY_SECONDS; ``(verdict or None, why not decided)``.

    The limit is a SIGALRM timer (repeating every 0.25 s until disarmed, in case sympy swallows
    one), so it applies in the main thread on POSIX; elsewhere simplify is not run and the numeric
    check decides alone. A caller's own SIGALRM handler and timer are put back afterwards.
    """
    import signal
    import threading
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return None, "was not run (no timer outside the main thread)"
    sympy = _sympy()["sympy"]
    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            raise _OutOfTime()

    def work() -> tuple[bool | None, str]:
        ren = {sympy.Symbol(a): sympy.Symbol(b) for a, b in substitute.items()}
        diff = mine.doit().xreplace(ren) - key.doit().xreplace(ren)
        if sympy.count_ops(diff) > SIMPLIFY_MAX_OPS:
            return None, "was not run (expression too large)"
        if sympy.simplify(diff) == 0:
            return True, "simplifies the difference to 0"
        return False, "could not simplify the difference to 0"

    started = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_timer = (0.0, 0.0)
    try:
        try:
            old_timer = signal.setitimer(signal.ITIMER_REAL, SIMPLIFY_SECONDS, 0.25)
            result = work()
        finally:
            armed[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        result = None, f"gave up after {SIMPLIFY_SECONDS:g} s"
    except Exception:  # sympy's own failure is not the student's
        result = None, "failed on it"
    finally:
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:  # give a caller's timer back what is left of it
            left = old_timer[0] - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), old_timer[1])
    return result
