"""A graded question is one file: a third graded function added from a single file in a folder of its own.

The engine (simgrade/) knows no homework: these tests write a question file for the symmetric
(CLIP) loss of reference/losses.py into a temporary folder, point SIMGRADE_QUESTIONS at it beside
answers/questions/, change no other file, and grade a correct submission (full marks), a
one-directional one (the rubric's points, the mistake named) and the handout's stub (0). The handout
then carries its stub. Question files are validated on load, with errors that name the valid choices.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simgrade import PROJECT_ROOT
from simgrade.grade import grade
from simgrade.handout import write_handout
from simgrade.key import AnswerKeyError, load_key
from simgrade.questions import DEFAULT_FOLDER, ENVIRONMENT, QuestionError, load_questions

QUESTION_FILE = '''
"""Question 9: the symmetric (CLIP) contrastive loss, InfoNCE averaged over both directions."""
from reference.losses import clip_loss, info_nce
from simgrade.question import CodeQuestion, Encoder, Input, Mistake, PositivePair, Scalar, Search

STUB = """\\
def symmetric_contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float) -> torch.Tensor:
    \\"\\"\\"Question 9: the symmetric contrastive loss, the mean of InfoNCE over the rows and over the columns.\\"\\"\\"
    raise NotImplementedError("FIXME: question 9, write symmetric_contrastive_loss")
"""

QUESTION = CodeQuestion(
    question="9",
    function="symmetric_contrastive_loss",
    title="the symmetric (CLIP) contrastive loss",
    arguments=(Encoder("enc", unit=True), PositivePair("batch1", "batch2"), Scalar("tau", 0.05, 5.0, typical=0.1)),
    reference=lambda enc, batch1, batch2, tau: clip_loss(enc(batch1), enc(batch2), tau),
    points={POINTS},
    battery=(Input(1, 3, "float64", {"tau": 0.5}), Input(2, 2, "float64", {"tau": 0.5}), Input(8, 4, "float64", {"tau": 0.1}),
             Input(17, 16, "float64", {"tau": 2.0}), Input(5, 3, "float32", {"tau": 1.0}), Input(32, 8, "float32", {"tau": 0.1})),
    search=Search(batch=(1, 32), scalars={"tau": (1.0, 0.5, 0.1)}),
    mistakes=(
        Mistake("one direction only", "average the cross-entropy over the rows and over the columns: "
                "(F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), tau)),
    ),
    rubric={"one direction only": 6},  # a sound loss that trains as well, not the symmetric one asked for
    stub=STUB,
)
'''
POINTS = '{"value": 5, "gradient": 3, "form": 1, "inputs_untouched": 1}'
CORRECT = '''
import torch
import torch.nn.functional as F


def symmetric_contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
'''
ONE_DIRECTION = '''
import torch
import torch.nn.functional as F


def symmetric_contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
'''


def _question_folder(tmp_path: Path, text: str = QUESTION_FILE, points: str = POINTS) -> Path:
    folder = tmp_path / "more_questions"
    folder.mkdir(exist_ok=True)
    (folder / "symmetric_contrastive_loss.py").write_text(text.replace("{POINTS}", points), encoding="utf-8")
    return folder


def _submission(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "similarity.py").write_text(source, encoding="utf-8")
    return folder


def _points(result, question: str) -> tuple[float, float]:
    tests = [t for t in result.tests if t.question == question]
    return sum(t.score for t in tests), sum(t.max_score for t in tests)


@pytest.fixture
def third(tmp_path, monkeypatch):
    """The key with a third code question, from one file in a temporary folder beside answers/questions/."""
    folder = _question_folder(tmp_path)
    monkeypatch.setenv(ENVIRONMENT, os.pathsep.join([str(DEFAULT_FOLDER), str(folder)]))
    return load_key()


def test_a_third_question_from_one_file_is_graded(third, sandbox, tmp_path):
    assert [q.question for q in third.code] == ["7b", "8a", "9"]
    assert third.question_ids[-1] == "9"
    question = third.code[-1]

    correct = grade(_submission(tmp_path, "correct", CORRECT), sandbox, third)
    assert _points(correct, "9") == (10, 10), [t.output for t in correct.tests if t.question == "9"]
    assert correct.extra["mistakes"]["9"] == []

    one_way = grade(_submission(tmp_path, "one_way", ONE_DIRECTION), sandbox, third)
    assert _points(one_way, "9") == (6, 10), [t.output for t in one_way.tests if t.question == "9"]
    fix = question.mistakes[0].fix
    assert one_way.extra["mistakes"]["9"] == [{"name": "one direction only", "fix": fix, "credit": 6}]
    value, gradient = (next(t for t in one_way.tests if t.number == n) for n in ("9.1", "9.2"))
    assert f"Known mistake: one direction only. Fix: {fix}." in value.output
    assert (value.score, value.status, gradient.score, gradient.status) == (5, "failed", 1, "failed")
    rubric = "Rubric: with the known mistake 'one direction only', symmetric_contrastive_loss earns 6 of 10 points."
    assert rubric in value.output and rubric in gradient.output
    assert "smallest input found where the value differs" in value.output

    stub = tmp_path / "stub"
    write_handout(stub, third)
    graded = grade(stub, sandbox, third)
    assert _points(graded, "9") == (0, 10)
    assert all(t.score == 0 for t in graded.tests if t.question in ("7b", "8a", "9"))


def test_the_handout_carries_the_third_stub(third, tmp_path):
    env = {**os.environ}
    out = tmp_path / "handout"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "grader.py"), "--handout", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (out / "similarity.py").read_text()
    assert "def symmetric_contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float)" in text
    assert "(questions 7b, 8a, and 9)" in text
    check = textwrap.dedent("""
        import similarity
        try:
            similarity.symmetric_contrastive_loss(None, None, None, 0.1)
        except NotImplementedError as error:
            print(error)
    """)
    run = subprocess.run([sys.executable, "-c", check], cwd=out, capture_output=True, text=True, timeout=120)
    assert run.stdout.startswith("FIXME: question 9"), run.stderr


# ------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("points, message", [
    ('{"value": 5, "gradients": 3}', "unknown property 'gradients'; valid: value, gradient, form, inputs_untouched"),
    ('{"gradient": 3}', "'value' is required"),
    ('{"value": 0}', "must be a positive number"),
    ('{"value": 5, "gradient": 1}', "rubric: 'one direction only' = 6 must be a number of points in [0, 6)"),
])
def test_points_are_validated(tmp_path, points, message):
    with pytest.raises(QuestionError, match=None) as error:
        load_questions([_question_folder(tmp_path, points=points)])
    assert message in str(error.value) and "symmetric_contrastive_loss.py" in str(error.value)


@pytest.mark.parametrize("old, new, message", [
    ('Input(2, 2, "float64", {"tau": 0.5})', 'Input(2, 2, "float64", {"temperature": 0.5})',
     "unknown scalar 'temperature'; valid: tau"),
    ('Input(2, 2, "float64", {"tau": 0.5})', 'Input(2, 2, "float64", {"tau": 50.0})', "tau=50.0 is outside [0.05, 5.0]"),
    ('Input(2, 2, "float64", {"tau": 0.5})', 'Input(2, 2, "float16", {"tau": 0.5})', "unknown dtype 'float16'"),
    ('scalars={"tau": (1.0, 0.5, 0.1)}', 'scalars={"temp": (1.0,)}', "search: unknown scalar 'temp'; valid: tau"),
    ('stub=STUB,', 'stub="",', "stub must hold the handout's 'def symmetric_contrastive_loss(...)'"),
    ('enc(b2), tau)),', 'enc(b2), tau), symptom=len),', "give exactly one of formula, symptom, gradient"),
    ('rubric={"one direction only": 6}', 'rubric={}', "rubric: no line for the mistakes ['one direction only']"),
    ('rubric={"one direction only": 6}', 'rubric={"one direction only": 6, "one direction": 2}',
     "rubric: unknown mistakes ['one direction']"),
    ('rubric={"one direction only": 6}', 'rubric={"one direction only": "6"}', "must be a number of points"),
    ('QUESTION = CodeQuestion(', 'QUESTIONS = CodeQuestion(', "defines no QUESTION = CodeQuestion(...)"),
])
def test_question_files_are_validated(tmp_path, old, new, message):
    assert old in QUESTION_FILE
    with pytest.raises(QuestionError) as error:
        load_questions([_question_folder(tmp_path, QUESTION_FILE.replace(old, new))])
    assert message in str(error.value)


def test_two_files_for_one_question_are_refused(tmp_path):
    folder = _question_folder(tmp_path, QUESTION_FILE.replace('question="9"', 'question="8a"'))
    with pytest.raises(QuestionError, match="same question"):
        load_questions([DEFAULT_FOLDER, folder])


def test_a_code_entry_in_the_key_is_a_clear_error(tmp_path):
    key = tmp_path / "key.toml"
    key.write_text((PROJECT_ROOT / "answers" / "key.toml").read_text()
                   + '\n[[code]]\nquestion = "9"\nfunction = "symmetric_contrastive_loss"\npoints = { value = 5 }\n')
    with pytest.raises(AnswerKeyError, match=r"\[\[code\]\] is not read.*registered: 7b \(autoencoder_loss"):
        load_key(key)


def test_the_key_names_its_questions_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    _question_folder(tmp_path)  # tmp_path / "more_questions", beside the key
    key = tmp_path / "key.toml"
    text = (PROJECT_ROOT / "answers" / "key.toml").read_text()
    key.write_text(text.replace("[meta]\n", f'[meta]\nquestions = ["{DEFAULT_FOLDER}", "more_questions"]\n', 1))
    assert [q.question for q in load_key(key).code] == ["7b", "8a", "9"]


def test_a_broken_question_file_is_one_clear_line_from_the_command_line(tmp_path):
    folder = _question_folder(tmp_path, points='{"value": 5, "gradients": 3}')
    env = {**os.environ, ENVIRONMENT: os.pathsep.join([str(DEFAULT_FOLDER), str(folder)])}
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "grader.py"), "--handout", str(tmp_path / "kit")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "points: unknown property 'gradients'; valid: value, gradient, form, inputs_untouched" in done.stderr
    assert not (tmp_path / "kit").exists()


@pytest.mark.parametrize("notebook, message", [
    ('Notebook("train_clip", ("batch1", "batch2"), assigns="loss", bound=("tau",))', "notebook bound ['tau'] are arguments"),
    ('Notebook("train_clip", ("batch1", "batch2"), assigns="loss", bound="device")', "must be a tuple of names"),
    ('Notebook("train_clip", ("batch1", "batch2"), assigns="2loss")', "notebook assigns '2loss'"),
    ('Notebook("train_clip", ("batch3",), assigns="loss")', "notebook locals ['batch3'] are not arguments"),
])
def test_the_notebook_place_is_validated(tmp_path, notebook, message):
    text = (QUESTION_FILE.replace("CodeQuestion, Encoder,", "CodeQuestion, Encoder, Notebook,", 1)
            .replace("stub=STUB,", f"stub=STUB, notebook={notebook},", 1))
    with pytest.raises(QuestionError) as error:
        load_questions([_question_folder(tmp_path, text)])
    assert message in str(error.value)
