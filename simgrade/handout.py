"""The student starter kit (``python grader.py --handout DIR``): ``similarity.py`` and ``answers.toml``.

``similarity.py`` holds the two functions of CONTRACT.md with docstrings that state the contract
(shapes, reduction, a 0-dim tensor carrying gradient) and bodies that raise
``NotImplementedError("FIXME: ...")``. ``answers.toml`` is generated from the key's items: every
field present with a blank value of the right type, its title and form in comments, and a
commented ``<key>_why`` example. Neither file holds any staff answer; the unedited kit grades to 0.
"""
from __future__ import annotations

from pathlib import Path

from simgrade.key import Key, KeyItem
from simgrade.written import form_of

SIMILARITY_PY = '''\
"""Homework 4, similarity-based learning: the two losses the grader runs (questions 7b and 8a).

Fill in the two functions below where it says FIXME and keep their names and signatures.
The grader imports this file and calls the functions with its own encoders, decoders and
batches, on a CPU: keep training, data loading, plotting and printing out of this file.
"""
import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch: torch.Tensor) -> torch.Tensor:
    """Question 7b: the autoencoder's reconstruction loss.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to features ``[B, d]``.
        dec: the decoder, a module mapping features ``[B, d]`` back to images ``[B, 3, H, W]``.
        batch: a float tensor of images ``[B, 3, H, W]``; do not modify it in place.

    Returns:
        The mean squared reconstruction error between ``dec(enc(batch))`` and ``batch``,
        averaged over every element (what ``F.mse_loss`` returns with its default reduction):
        a 0-dim tensor that carries gradient to the parameters of ``enc`` and ``dec``.
    """
    raise NotImplementedError("FIXME: question 7b, write autoencoder_loss")


def contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float) -> torch.Tensor:
    """Question 8a: the InfoNCE loss with in-batch negatives.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to unit vectors ``[B, d]``.
        batch1: a float tensor ``[B, 3, H, W]``, one view of each of B images.
        batch2: a float tensor ``[B, 3, H, W]``, another view of the same B images, in the same
            order (row i of ``batch2`` is the positive of row i of ``batch1``).
        tau: the temperature, a float > 0 (0.07 in the course; it may be as small as 0.01).
        Do not modify the inputs in place.

    Returns:
        With logits = ``enc(batch1) @ enc(batch2).T / tau`` (``[B, B]``), row i's target is
        column i: the cross-entropy of every row, averaged over the B rows. A 0-dim tensor that
        carries gradient to the parameters of ``enc``; it must stay finite for small ``tau``.
    """
    raise NotImplementedError("FIXME: question 8a, write contrastive_loss")
'''

_BLANK = {
    "yesno": '""',
    "choice": '""',
    "expression": '""',
    "set": "[]",
    "interval": "[]",
}


def _blank_value(item: KeyItem) -> str:
    """A clearly blank TOML value of the item's type (graded as not answered)."""
    if item.kind == "yesno_list":
        return "[" + ", ".join(['""'] * len(item.answer)) + "]"
    return _BLANK.get(item.kind, '""')


def _comment(text: str) -> str:
    return "# " + " ".join(str(text).split())


def answers_template(key: Key) -> str:
    """The blank ``answers.toml`` for ``key``: every field, blank, commented with its title and form."""
    lines = [
        "# Written answers of Homework 4, graded automatically (simgrade).",
        "#",
        "# Fill in every value; keep the [sections] and the keys as they are.",
        '# Text needs quotes: key = "text", not key = text. Lists are written ["...", "..."].',
        '# Yes/no questions take "yes", "no" or "maybe" (case does not matter).',
        "# Expressions are graded by symbolic equivalence: any equivalent form is right.",
        "# A value left empty counts as not answered.",
        "# Every key may have a companion <key>_why = \"...\" with your reasoning: the TA reads it;",
        "# it is not scored. Remove the leading # to use one.",
    ]
    manual = sorted({m.question for m in key.manual}, key=lambda q: (len(q), q))
    if manual:
        lines.append("# Parts of questions " + ", ".join(manual)
                     + " are graded by a TA from your write-up, not from this file.")
    section = None
    for item in key.items:
        if item.section != section:
            section = item.section
            lines += ["", f"[{section}]"]
        else:
            lines.append("")
        lines.append(_comment(f"question {item.question}: {item.title}"))
        lines.append(_comment(f"form: {form_of(item)}"))
        lines.append(f"{item.key} = {_blank_value(item)}")
        lines.append(f'# {item.key}_why = "your reasoning (optional, for the TA)"')
    return "\n".join(lines) + "\n"


def handout_files(key: Key) -> dict[str, str]:
    """File name -> content of the starter kit."""
    return {"similarity.py": SIMILARITY_PY, "answers.toml": answers_template(key)}


def write_handout(directory: Path, key: Key, force: bool = False) -> list[Path]:
    """Write ``similarity.py`` and ``answers.toml`` into ``directory`` (created if needed).

    Refuses (``FileExistsError``, nothing written) when either file exists, unless ``force``.
    Returns the paths written.
    """
    directory = Path(directory)
    files = handout_files(key)
    targets = [directory / name for name in files]
    existing = [p for p in targets if p.exists() or p.is_symlink()]
    if existing and not force:
        raise FileExistsError(
            "refusing to overwrite " + ", ".join(str(p) for p in existing) + " (use force to overwrite)")
    for p in existing:
        if p.is_dir() and not p.is_symlink():
            raise IsADirectoryError(f"{p} is a directory")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for (name, text), path in zip(files.items(), targets):
        if path.is_symlink():
            path.unlink()  # never write through a link
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written
