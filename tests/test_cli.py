"""The command line of CONTRACT.md: exit codes, the report, results.json, determinism, the samples."""
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from simgrade import PROJECT_ROOT
from simgrade.grade import grade

SCHEMA = json.loads((Path(__file__).parent / "results.schema.json").read_text())


def run_grader(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "grader.py", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_missing_folder_is_a_usage_error_in_one_line(tmp_path):
    result = run_grader(str(tmp_path / "nope"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("args", [[], ["a", "--verify"], ["--batch", "."], ["--no-such-flag"], ["--check", "nope/"],
                                  ["--check", ".", "."]])
def test_usage_errors_exit_2_without_traceback(args):
    result = run_grader(*args)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_grading_the_example_writes_valid_results_json(tmp_path):
    out = tmp_path / "deep" / "results.json"
    result = run_grader(str(PROJECT_ROOT / "examples" / "correct"), "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == data["max_score"] == 44
    assert "Total: 44 / 44" in result.stdout and "Question 8a: 10 / 10" in result.stdout
    assert {t["number"].split(".")[0] for t in data["tests"]} == {
        "1", "4a", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7b", "7d", "8a", "8b"}


def test_check_exits_0_and_reveals_nothing(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "answers.toml").write_text('[q4]\ne_i = "Larger"\nc = "purple"\n', encoding="utf-8")
    result = run_grader("--check", str(sub))
    assert result.returncode == 0, result.stderr
    assert 'q4.e_i: read as "larger"' in result.stdout and '"purple"' in result.stdout
    assert "not found: no autoencoder_loss" in result.stdout
    assert not any(word in result.stdout.lower() for word in ("incorrect", "correct", " / 44"))


def test_the_report_leads_with_the_total_and_says_the_wall_time(tmp_path):
    result = run_grader(str(PROJECT_ROOT / "tests" / "fixtures" / "samples" / "missing_temperature"))
    lines = result.stdout.splitlines()
    assert lines[2].strip().startswith("Total: ") and "s wall time" in lines[2]
    assert lines[3].strip().startswith("Failing: ")
    assert result.stdout.count("no answers.toml in the submission") <= 1 + sum(l.startswith("Question") for l in lines)


def test_same_submission_same_scores(sandbox, key, samples):
    first = grade(samples / "missing_temperature", sandbox, key).to_gradescope()
    second = grade(samples / "missing_temperature", sandbox, key).to_gradescope()
    strip = lambda r: [(t["number"], t["score"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert strip(first) == strip(second) and first["score"] == second["score"]


def scores(result) -> dict[str, float]:
    return result.question_scores()


def full(result, question: str) -> bool:
    tests = [t for t in result.tests if t.question == question]
    return bool(tests) and all(t.status == "passed" for t in tests)


def feedback(result, question: str) -> str:
    return "\n".join(t.output for t in result.tests if t.question == question)


WRITTEN = ("1", "4a", "4c", "4e", "4f", "5a", "5b", "6", "7a", "7d", "8b")


def test_sample_correct(sandbox, key, samples):
    result = grade(samples / "correct", sandbox, key)
    assert full(result, "7b") and full(result, "8a")
    assert all(full(result, q) for q in WRITTEN)
    assert result.score == result.max_score


def test_sample_missing_temperature(sandbox, key, samples):
    result = grade(samples / "missing_temperature", sandbox, key)
    assert full(result, "7b") and not full(result, "8a")
    assert "missing temperature" in feedback(result, "8a")
    assert all(scores(result)[q] == 0 for q in WRITTEN)


def test_sample_sum_reduction(sandbox, key, samples):
    result = grade(samples / "sum_reduction", sandbox, key)
    assert not full(result, "7b") and full(result, "8a")
    assert "sum instead of mean" in feedback(result, "7b")


def test_sample_homework_notebook(sandbox, key, samples):
    result = grade(samples / "homework_notebook", sandbox, key)
    assert full(result, "7b") and full(result, "8a")
    assert all(scores(result)[q] == 0 for q in WRITTEN)


def test_sample_hostile(tmp_path, samples):
    """Through the real command: the grade is zero, the fake results are not ours, the run finishes."""
    out = tmp_path / "results.json"
    guarded = [PROJECT_ROOT / "grader.py", PROJECT_ROOT / "answers" / "key.toml", PROJECT_ROOT / "reference" / "losses.py"]
    before = [p.read_bytes() for p in guarded]
    result = run_grader(str(samples / "hostile"), "--json", str(out), "--time-limit", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    by_question = {}
    for test in data["tests"]:
        by_question[test["number"].split(".")[0]] = by_question.get(test["number"].split(".")[0], 0) + test["score"]
    assert by_question["7b"] == 0 and by_question["8a"] == 0 and data["score"] == 0
    assert "time limit" in " ".join(t["output"] for t in data["tests"] if t["number"].startswith("8a"))
    assert [p.read_bytes() for p in guarded] == before
    assert not (PROJECT_ROOT / "results.json").exists()
    assert not (samples / "hostile" / "results.json").exists()


def test_a_grader_bug_still_writes_results_json_and_exits_1(tmp_path, monkeypatch, capsys):
    """Unreachable from a submission (grade() never raises for one): Gradescope still gets a zero for every test."""
    import simgrade.grade
    import simgrade.sandbox
    from simgrade.cli import main

    class NoSandbox:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            return self

        def close(self):
            pass

    def broken_grade(folder, sandbox, key):
        raise AssertionError("a grader bug\nwith a second line")

    monkeypatch.setattr(simgrade.sandbox, "Sandbox", NoSandbox)
    monkeypatch.setattr(simgrade.grade, "grade", broken_grade)
    out = tmp_path / "results.json"
    assert main([str(PROJECT_ROOT / "examples" / "correct"), "--json", str(out)]) == 1
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1 and "AssertionError: a grader bug\\x0awith a second line" in stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and data["max_score"] == 44  # every test of the key, as in a real grade
    assert all(t["output"].startswith("The grader failed on this submission (AssertionError") for t in data["tests"])
    assert data["extra_data"]["flags"] == ["grader error"]
