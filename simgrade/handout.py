"""The student starter kit (``python grader.py --handout DIR``): the handout module, ``answers.toml`` and
``check_submission.py``, the student's own check before handing in (:mod:`simgrade.check_script`).

The handout module (the key's ``[meta] handout_file``) holds the stub of every code question (its
question file's ``stub``: a docstring that states the contract and a body that raises
``NotImplementedError("FIXME: ...")``), after the imports they need. ``answers.toml`` is generated from the key's items: every
field present with a blank value of the right type, its title and form in comments, and a
commented ``<key>_why`` example. Neither file holds any staff answer; the unedited kit grades to 0.
"""
from __future__ import annotations

from pathlib import Path

from simgrade.key import Key, KeyItem
from simgrade.written import form_of

def _and(words: list[str]) -> str:
    return " and ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + ", and " + words[-1]


def module_text(key: Key) -> str:
    """The handout module: a docstring, the imports the stubs need, then each code question's stub, in key order."""
    questions = sorted(key.code, key=lambda q: key.question_ids.index(q.question))
    word = "question" if len(questions) == 1 else "questions"
    header = (f'"""The functions the grader runs ({word} {_and([q.question for q in questions])}).\n\n'
              "Fill in the functions below where it says FIXME and keep their names and signatures.\n"
              "The grader imports this file and calls the functions with its own networks, batches and\n"
              "values, on a CPU: keep training, data loading, plotting and printing out of this file.\n"
              '"""\n')
    imports = list(dict.fromkeys(line for q in questions for line in q.imports))
    stubs = [q.stub.strip("\n") + "\n" for q in questions]
    return header + "\n".join(imports) + "\n\n\n" + "\n\n".join(stubs)


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
    """File name -> content of the starter kit: the handout module, ``answers.toml`` and the student's own
    check, ``check_submission.py`` (standalone: plain Python and torch, no key, no reference)."""
    from simgrade.check_script import FILE_NAME, script_text

    return {key.handout_file: module_text(key), "answers.toml": answers_template(key), FILE_NAME: script_text(key)}


def write_handout(directory: Path, key: Key, force: bool = False) -> list[Path]:
    """Write the handout module (``key.handout_file``) and ``answers.toml`` into ``directory`` (created if needed).

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
