"""The student's own check (``check_submission.py`` in the handout kit): a standalone script.

It needs only Python 3.11+ and torch, and holds no answer key and no reference: what it knows of the
homework is a spec generated from the key (each written item's field, kind, options, length) and
the code questions (each function's name and its arguments by kind), the same things the blank
``answers.toml`` and the stubs already show. Like ``grader.py --check``, it echoes how each written
answer is read and runs each function on random inputs for its form only (0-dim tensor, finite,
gradient reaching every parameter, inputs untouched); it says nothing about right or wrong.
"""
from __future__ import annotations

import json

from simgrade.expressions import CONSTANTS, FUNCTIONS
from simgrade.key import Key
from simgrade.question import Decoder, Encoder, Images, PositivePair, Scalar

FILE_NAME = "check_submission.py"
"""The script's name in the kit."""


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
    items = []
    for item in key.items:
        entry = {"field": item.field, "kind": item.kind}
        if item.kind in ("choice", "set"):
            entry["options"] = list(item.options)
        if item.kind == "yesno_list":
            entry["n"] = len(item.answer)
        if item.kind == "expression":
            entry["symbols"] = list(item.symbols)
        items.append(entry)
    functions = [{"name": q.function, "question": q.question, "arguments": [_argument(a) for a in q.arguments]}
                 for q in key.code]
    from simgrade.written import SPELLINGS

    options = {o for item in key.items for o in item.options}
    spellings = {w: o for w, o in SPELLINGS.items() if o in options}  # those of written.py that name an option
    return {"handout_file": key.handout_file, "items": items, "functions": functions, "spellings": spellings,
            "expression_names": list(FUNCTIONS) + list(CONSTANTS)}


def script_text(key: Key) -> str:
    """The script: its spec, then the fixed body."""
    return (_HEADER + "SPEC = json.loads(" + repr(json.dumps(spec(key), sort_keys=True)) + ")\n" + _BODY)


_HEADER = '''#!/usr/bin/env python3
"""Check your submission before handing it in:  python check_submission.py [FOLDER]

FOLDER (default: this script's folder) holds answers.toml and the handout's Python file. The check
shows how each written answer is read and whether each function runs and returns a 0-dim tensor
that is finite, carries gradient to every parameter and leaves its inputs unchanged, on random
inputs. It has no answer key and says nothing about whether an answer is right.
It imports your Python file: keep training and data loading out of it.
"""
import importlib.util
import json
import math
import re
import sys
import tomllib
from pathlib import Path

'''

_BODY = r'''
YES, NO, MAYBE = {"yes", "y", "true"}, {"no", "n", "false"}, {"maybe"}
SPELLINGS = SPEC["spellings"]


def word(text):
    s = " ".join(str(text).lower().split()).rstrip(".").strip()
    while len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        s = s[1:-1].strip()
    return s


def yesno(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, str):
        raise ValueError(f"expected \"yes\", \"no\" or \"maybe\", got {value!r}")
    w = word(value)
    for name, words in (("yes", YES), ("no", NO), ("maybe", MAYBE)):
        if w in words:
            return name
    raise ValueError(f"{value!r} is not \"yes\", \"no\" or \"maybe\"")


def option(item, value):
    if not isinstance(value, str):
        raise ValueError(f"expected one of {item['options']}, in quotes; got {value!r}")
    w = word(value)
    table = {word(o): o for o in item["options"]}
    table.update({k: v for k, v in SPELLINGS.items() if v in item["options"]})
    if w not in table:
        raise ValueError(f"{value!r} is not one of {item['options']}")
    return table[w]


def read(item, value):
    kind = item["kind"]
    if isinstance(value, str) and not value.strip():
        raise ValueError("not answered")
    if kind == "yesno":
        return f'read as "{yesno(value)}"'
    if kind == "choice":
        return f'read as "{option(item, value)}"'
    if kind == "set":
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ValueError(f"expected a list of strings, got {value!r}")
        entries = [e for e in entries if e.strip()]
        if not entries:
            raise ValueError("not answered")
        if [word(e) for e in entries] in (["none"], ["nothing"]):
            return "read as none of the options"
        return "read as the set {" + ", ".join(sorted(f'"{option(item, e)}"' for e in entries)) + "}"
    if kind == "interval":
        ends = value.strip().strip("[]()").split(",") if isinstance(value, str) else value
        if not isinstance(ends, list) or len(ends) != 2:
            raise ValueError(f"expected two numbers [low, high], got {value!r}")
        low, high = (float(str(e).strip().replace("\u2212", "-")) for e in ends)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"{value!r}: two finite numbers, the lower end first")
        return f"read as the interval [{low:g}, {high:g}]"
    if kind == "expression":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = repr(value)
        if not isinstance(value, str):
            raise ValueError(f"expected an expression in quotes, got {value!r}")
        allowed = set(item["symbols"]) | set(SPEC["expression_names"]) | {"ln", "e"}
        unknown = sorted(set(re.findall(r"[A-Za-z_]\w*", value)) - allowed)
        if unknown:
            raise ValueError(f"{value!r} uses names the grader does not accept: {', '.join(unknown)} "
                             f"(allowed: {', '.join(item['symbols'])}; {', '.join(SPEC['expression_names'])})")
        return f'read as the expression text "{value}" (the grader parses it; any equivalent form is graded alike)'
    return f"read as {value!r}"


def check_answers(folder):
    path = folder / "answers.toml"
    print("Written answers (answers.toml)")
    if not path.is_file():
        print("  ! no answers.toml in", folder)
        return 0, sum(i.get("n", 1) for i in SPEC["items"])
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        print(f"  ! answers.toml cannot be read: {error}; every written item would score 0")
        return 0, sum(i.get("n", 1) for i in SPEC["items"])
    known = {}
    for item in SPEC["items"]:
        known.setdefault(item["field"].split(".")[0], set()).add(item["field"].split(".", 1)[1])
    for section, table in data.items():
        if section.endswith("_why"):
            continue
        if section not in known:
            print(f"  ! unknown section or key [{section}]: ignored")
        elif isinstance(table, dict):
            for k in table:
                if not k.endswith("_why") and k not in known[section]:
                    print(f"  ! unknown key {section}.{k}: ignored")
    read_count, total, unread = 0, 0, []
    for item in SPEC["items"]:
        section, key = item["field"].split(".", 1)
        table = data.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        values = [(item["field"], value)]
        if item["kind"] == "yesno_list":
            n = item["n"]
            if not isinstance(value, list):
                values = [(f"{item['field']} (1-{n} of {n})", value)]
            else:
                values = [(f"{item['field']} ({i + 1} of {n})", value[i] if i < len(value) else None) for i in range(n)]
                if len(value) > n:
                    unread.append((item["field"], f"the list has {len(value)} entries, {n} expected"))
        total += item.get("n", 1)
        for label, v in values:
            try:
                if v is None or (isinstance(v, str) and not v.strip()):
                    raise ValueError("not answered")
                if item["kind"] == "yesno_list":
                    if isinstance(value, list):
                        how = f'read as "{yesno(v)}"'
                    else:
                        raise ValueError(f"expected a list of {item['n']} strings, got {v!r}")
                else:
                    how = read(item, v)
                print(f"  {label}: {how}")
                read_count += 1 if item["kind"] != "yesno_list" or isinstance(value, list) else 0
            except (ValueError, TypeError) as error:
                unread.append((label, str(error)))
    if unread:
        print(f"\n  Not read ({len(unread)}): write these in the form the comments of answers.toml show (the grader\n"
              "  accepts a few more spellings than this check; an entry it cannot read scores 0)")
        for label, why in unread:
            print(f"  ! {label}: {why}")
    return read_count, total


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
    read_count, total = check_answers(folder)
    good = check_code(folder)
    print(f"\nSummary: {read_count} of {total} written entries read; "
          f"{good} of {len(SPEC['functions'])} functions found and of the expected form.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''
