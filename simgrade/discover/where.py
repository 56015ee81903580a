"""Where a student's function raised, in the student's terms: ``hw4.ipynb cell 12, line 7: loss = x / n``.

The sandbox runs chunks that discovery generated (a notebook cell's definition, the course wrapper around the
lines at the FIXME), so the line numbers its frames carry are those of the generated source, and the file
names are the sandbox's. The runner is the student's process and its reply is untrusted, so it reports
numbers only: per frame of the submission's code ``[program, chunk, line]`` (indices into the load message
the grader sent, a line of that chunk's source), and the top-level package the innermost of them called into
(``torch``). The grader turns them into words with its own copy of that message: each chunk's place and line
map (:attr:`~simgrade.discover.model.Chunk.lines`) and the chunk's own source for the quoted line. A frame
out of range is dropped; no path from the sandbox is ever shown.
"""
from __future__ import annotations

import re

QUOTE_CHARS = 80
"""The quoted line of code is cut to this many characters."""
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")


def _frame(programs: list[dict], frame) -> str | None:
    """One ``[program, chunk, line]`` frame in words, or None when it names no line the grader sent."""
    if not (isinstance(frame, (list, tuple)) and len(frame) == 3 and all(type(n) is int for n in frame)):
        return None
    p, c, n = frame
    if not 0 <= p < len(programs) or not 0 <= c < len(programs[p]["chunks"]):
        return None
    chunk = programs[p]["chunks"][c]
    source = chunk["source"].split("\n")
    if not 1 <= n <= len(source):
        return None
    code = " ".join(source[n - 1].split())
    code = code if len(code) <= QUOTE_CHARS else code[:QUOTE_CHARS - 1] + "…"
    line = dict(chunk.get("lines", ())).get(n)
    if line is None:  # the course wrapper's own `return loss`: an UnboundLocalError when no branch assigned it
        return f"{chunk['place']}: {code} (a line the grader adds after yours)"
    return f"{chunk['place']}, line {line}: {code}"


def locate(programs: list[dict], reply: dict) -> str:
    """The frames of ``reply`` (a runner's error reply) in the student's terms, outermost first, and the package the
    code called into; ``""`` when none is known. ``programs``: the load message's programs, as the grader sent them."""
    shown = [text for text in (_frame(programs, f) for f in reply.get("frames", ())) if text]
    inside = reply.get("inside")
    if isinstance(inside, str) and _PACKAGE.match(inside):
        shown.append(f"inside {inside}")
    return "; ".join(shown)
