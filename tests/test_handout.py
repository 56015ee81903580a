"""simgrade.handout: the student starter kit (issue 3 item 7)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from simgrade.handout import handout_files, write_handout
from simgrade.key import load_key
from simgrade.written import grade_written

from simgrade import PROJECT_ROOT

KEY = load_key()
SAMPLE = Path(__file__).parent / "fixtures" / "samples" / "correct" / "answers.toml"


def sample_literals() -> dict[str, str]:
    """field -> TOML literal of the correct sample."""
    data = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))
    return {f"{sec}.{k}": json.dumps(v) for sec, table in data.items() for k, v in table.items()
            if not k.endswith("_why")}


def test_writes_both_files(tmp_path):
    out = tmp_path / "new" / "kit"
    paths = write_handout(out, KEY)
    assert [p.name for p in paths] == ["similarity.py", "answers.toml", "check_submission.py"]
    assert all(p.is_file() and p.parent == out for p in paths)


def test_refuses_to_overwrite_unless_forced(tmp_path):
    write_handout(tmp_path, KEY)
    (tmp_path / "answers.toml").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="answers.toml"):
        write_handout(tmp_path, KEY)
    assert (tmp_path / "answers.toml").read_text(encoding="utf-8") == "mine"
    write_handout(tmp_path, KEY, force=True)
    assert (tmp_path / "answers.toml").read_text(encoding="utf-8") != "mine"


def test_refusal_writes_nothing(tmp_path):
    (tmp_path / "answers.toml").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_handout(tmp_path, KEY)
    assert not (tmp_path / "similarity.py").exists()


def test_force_does_not_write_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "answers.toml").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_handout(kit, KEY)
    write_handout(kit, KEY, force=True)
    assert victim.read_text(encoding="utf-8") == "keep"
    assert not (kit / "answers.toml").is_symlink()


# ----------------------------------------------------------------------------- answers.toml

def test_blank_answers_grade_to_zero_not_answered(tmp_path):
    write_handout(tmp_path, KEY)
    grade = grade_written((tmp_path / "answers.toml").read_bytes(), KEY)
    assert len(grade.tests) == 24 and grade.max_score == 24
    assert grade.score == 0
    assert all("not answered" in t.output for t in grade.tests)
    assert grade.notes == [] and grade.why == {}


def test_template_has_every_field_commented():
    text = handout_files(KEY)["answers.toml"]
    data = tomllib.loads(text)
    for item in KEY.items:
        value = data[item.section][item.key]
        expected = {"yesno": "", "choice": "", "expression": "", "set": [], "interval": [],
                    "yesno_list": [""] * len(item.answer)}[item.kind]
        assert value == expected, item.field
        assert f"# {item.key}_why = " in text
        assert item.title in text
    assert set(data) == {i.section for i in KEY.items}


def test_template_filled_in_scores_full_marks():
    """The template's keys are exactly the ones the grader reads: fill it with the sample's values."""
    lines = []
    section = None
    lits = sample_literals()
    for line in handout_files(KEY)["answers.toml"].splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#") and " = " in line:
            k = line.split(" = ")[0]
            line = f"{k} = {lits[f'{section}.{k}']}"
        lines.append(line)
    assert grade_written("\n".join(lines).encode(), KEY).score == 24


def test_template_reveals_no_answer():
    text = handout_files(KEY)["answers.toml"]
    for item in KEY.items:
        if item.kind == "expression":
            for form in (item.answer, *item.accepted):
                assert f'"{form}"' not in text and f"{item.key} = {form}" not in text
        elif item.kind in ("yesno_list", "set", "interval"):
            assert json.dumps(item.answer) not in text
            assert json.dumps(item.answer).replace('"', "'") not in text
            assert str(item.answer) not in text
        else:
            assert f'{item.key} = "{item.answer}"' not in text
    for manual in KEY.manual:
        assert manual.answer not in text and manual.title not in text
    assert "Tammes" not in text and "2*(1" not in text and "cos(theta)" not in text


# ----------------------------------------------------------------------------- similarity.py

def test_similarity_imports_and_raises_not_implemented(tmp_path):
    write_handout(tmp_path, KEY)
    code = textwrap.dedent("""
        import inspect, json
        import similarity
        out = {}
        for name, args in [("autoencoder_loss", (None, None, None)), ("contrastive_loss", (None, None, None, 0.07))]:
            fn = getattr(similarity, name)
            try:
                fn(*args)
                out[name] = "returned"
            except NotImplementedError as err:
                out[name] = str(err)
            out[name + "_sig"] = list(inspect.signature(fn).parameters)
        print(json.dumps(out))
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["autoencoder_loss"].startswith("FIXME") and out["contrastive_loss"].startswith("FIXME")
    assert out["autoencoder_loss_sig"] == ["enc", "dec", "batch"]
    assert out["contrastive_loss_sig"] == ["enc", "batch1", "batch2", "tau"]


def test_similarity_holds_only_docstrings_and_fixme():
    source = handout_files(KEY)["similarity.py"]
    tree = ast.parse(source)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {a.asname or a.name for n in imports for a in n.names} == {"torch", "F"}
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert set(funcs) == {"autoencoder_loss", "contrastive_loss"}
    for fn in funcs.values():
        doc, body = fn.body[0], fn.body[1:]
        assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
        assert len(body) == 1 and isinstance(body[0], ast.Raise)
        assert "NotImplementedError" in ast.unparse(body[0]) and "FIXME" in ast.unparse(body[0])
    # the contract is stated
    ae, cl = (ast.get_docstring(funcs[n]) for n in ("autoencoder_loss", "contrastive_loss"))
    for phrase in ("[B, 3, H, W]", "0-dim tensor", "carries gradient", "averaged over", "default reduction"):
        assert phrase in ae
    for phrase in ("[B, 3, H, W]", "unit vectors", "enc(batch1) @ enc(batch2).T / tau", "column i",
                   "cross-entropy", "B rows", "0-dim tensor", "carries gradient"):
        assert phrase in cl
    # no written answer sneaks in
    for item in KEY.items:
        if item.kind == "expression":
            for form in (item.answer, *item.accepted):
                assert len(form) < 3 or form not in source
    assert "cos(theta)" not in source


def test_the_handout_module_is_the_keys_meta_handout_file(tmp_path):
    """The handout's file name is course content (``[meta] handout_file``), read by discovery and the kit alike."""
    assert KEY.handout_file == "similarity.py"
    key = tmp_path / "key.toml"
    text = (PROJECT_ROOT / "answers" / "key.toml").read_text(encoding="utf-8")
    key.write_text(text.replace('handout_file = "similarity.py"', 'handout_file = "kit.py"'), encoding="utf-8")
    paths = write_handout(tmp_path / "kit", load_key(key))
    assert [p.name for p in paths] == ["kit.py", "answers.toml", "check_submission.py"]
    key.write_text(text.replace('handout_file = "similarity.py"', 'handout_file = "../kit.py"'), encoding="utf-8")
    with pytest.raises(ValueError, match="handout_file"):
        load_key(key)
