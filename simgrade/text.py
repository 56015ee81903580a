"""Text that a submission controls, made safe to show: the one function every report goes through.

A submission chooses its file names, its exception messages, what it prints and its written
answers. Shown raw, such text could move the terminal's cursor, clear the screen, reorder a line
(bidi overrides), break an encoder (lone surrogates) or be of any length. :func:`untrusted`
turns every such character into a visible escape and caps the length; the reports
(:mod:`simgrade.report`, :mod:`simgrade.results`, :mod:`simgrade.classreport`) apply it to
everything they print that is not their own structure.
"""
from __future__ import annotations

import unicodedata

_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
"""Control, format (bidi, zero-width), surrogate, unassigned, line and paragraph separators."""


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def untrusted(text, limit: int = 2000, multiline: bool = True) -> str:
    """``text`` with every control, format and separator character escaped (``\\x1b``, ``\\u202e``),
    at most ``limit`` characters; newlines (CRLF read as one) and tabs kept when ``multiline``."""
    text = text if isinstance(text, str) else str(text)
    cut = len(text) > limit
    text = text[:limit]
    if multiline:
        text = text.replace("\r\n", "\n")
    if not text.isprintable():  # the common case costs one scan
        keep = "\n\t" if multiline else ""
        text = "".join(c if c.isprintable() or c in keep or unicodedata.category(c) not in _UNSAFE else _escape(c)
                       for c in text)
    if len(text) > limit or cut:
        text = text[:limit - 1] + "…"
    return text
