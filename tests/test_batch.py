"""``grader.py --batch``: a folder of mixed submissions, graded in parallel, consistent with single runs.

One batch run (of the samples, a crashing and a stub submission, plus folders that are not
submissions) is shared by the tests; under pytest-xdist the first worker to need it runs it and
the others wait for it (a file lock), so it runs once per session.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from filelock import FileLock

from simgrade.batch import run_batch, submissions
from simgrade.results import question_scores
from simgrade.grade import grade

from conftest import TEST_LIMITS

CRASH = """
import os
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    os._exit(3)
"""
STUB = """
def autoencoder_loss(enc, dec, batch):
    raise NotImplementedError


def contrastive_loss(enc, batch1, batch2, tau):
    raise NotImplementedError
"""
FOLDERS = ["correct", "crash", "homework_notebook", "hostile", "missing_temperature", "stub", "sum_reduction"]
TEST_KEYS = {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}


def build_class(root: Path, samples: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("correct", "homework_notebook", "hostile", "missing_temperature", "sum_reduction"):
        shutil.copytree(samples / name, root / name)
    for name, source in (("crash", CRASH), ("stub", STUB)):
        (root / name).mkdir()
        (root / name / "similarity.py").write_text(source)
    shutil.copytree(samples / "correct", root / ".ipynb_checkpoints")  # not a submission
    (root / "__MACOSX").mkdir()  # nor this
    (root / "roster.txt").write_text("not a folder\n")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="session")
def batch(tmp_path_factory, samples, request):
    """The shared batch run: (class folder, out folder, exit status, stderr, wall seconds)."""
    shared = tmp_path_factory.getbasetemp()
    if getattr(request.config, "workerinput", None) is not None:
        shared = shared.parent  # the folder all xdist workers share
    root = shared / "simgrade-batch"
    with FileLock(str(shared / "simgrade-batch.lock")):
        info = root / "run.json"
        if not info.exists():
            shutil.rmtree(root, ignore_errors=True)
            classdir = build_class(root / "class", samples)
            out = root / "out"
            err = io.StringIO()
            start = time.monotonic()
            with contextlib.redirect_stderr(err):
                status = run_batch(classdir, out, jobs=2, limits=TEST_LIMITS)
            info.write_text(json.dumps({"status": status, "stderr": err.getvalue(), "wall": time.monotonic() - start}))
        data = json.loads(info.read_text())
    return root / "class", root / "out", data["status"], data["stderr"], data["wall"]


def read(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_all_outputs_present(batch):
    classdir, out, status, stderr, _ = batch
    assert status == 0, stderr
    assert [p.name for p in submissions(classdir)] == FOLDERS
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.json" for n in FOLDERS] + ["grades.csv", "report.html"])
    assert "7/7 graded" in stderr


def test_outputs_are_readable_by_the_tas_group(batch):
    """A plain open()'s mode under the umask (here 022 or 002), never a temporary file's 0600."""
    _, out, _, _, _ = batch
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert all(mode & 0o040 for mode in modes.values()), modes


def test_results_follow_the_schema(batch, key):
    _, out, _, _, _ = batch
    for name in FOLDERS:
        data = read(out, name)
        assert {"score", "max_score", "execution_time", "output", "tests"} <= set(data)
        assert data["max_score"] == 44 and data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
        for test in data["tests"]:
            assert TEST_KEYS <= set(test) and test["status"] in ("passed", "failed")
            assert test["number"].rsplit(".", 1)[0] in key.question_ids


def test_grades_csv(batch, key):
    _, out, _, _, _ = batch
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "total", *key.question_ids]
    assert [r[0] for r in rows[1:]] == FOLDERS
    for row in rows[1:]:
        data = read(out, row[0])
        assert float(row[1]) == pytest.approx(data["score"])
        per_question = question_scores(data)
        assert [float(v) for v in row[2:]] == pytest.approx([per_question.get(q, 0.0) for q in key.question_ids])
        assert sum(float(v) for v in row[2:]) == pytest.approx(float(row[1]))
    totals = {r[0]: float(r[1]) for r in rows[1:]}
    assert totals["correct"] == 44 and totals["hostile"] == 0 and totals["stub"] == 0
    assert 0 < totals["missing_temperature"] < 44 and 0 < totals["sum_reduction"] < 44


def test_scores_equal_grading_each_folder_alone(batch, sandbox, key):
    """The batch's JSON for each folder has exactly the scores of a single run (same limits)."""
    classdir, out, _, _, _ = batch
    for name in FOLDERS:
        alone = grade(classdir / name, sandbox, key).to_gradescope()
        batched = read(out, name)
        assert batched["score"] == alone["score"], name
        assert [(t["number"], t["score"], t["status"]) for t in batched["tests"]] == \
               [(t["number"], t["score"], t["status"]) for t in alone["tests"]], name
        assert batched["extra_data"]["flags"] == alone["extra_data"]["flags"], name
        assert batched["extra_data"]["mistakes"] == alone["extra_data"]["mistakes"], name


def test_hanging_and_crashing_submissions_cost_only_their_own_limits(batch):
    _, out, _, _, _ = batch
    hostile, crash = read(out, "hostile"), read(out, "crash")
    assert "timed out" in hostile["extra_data"]["flags"]
    assert "ended its own process" in crash["extra_data"]["flags"]
    budget = TEST_LIMITS.load_seconds + 2 * TEST_LIMITS.call_seconds + 10  # generous on a busy machine
    assert hostile["execution_time"] < budget and crash["execution_time"] < budget
    assert not (Path(out) / "results.json").exists()  # the hostile sample's fake result went nowhere near OUT
    assert read(out, "correct")["score"] == 44


def test_progress_bar_on_stderr(batch):
    _, _, _, stderr, _ = batch
    assert "grading" in stderr and "100%" in stderr and "7/7" in stderr


def test_report_written(batch):
    _, out, _, _, _ = batch
    text = (out / "report.html").read_text()
    assert "7 submission(s) graded" in text
    assert "missing temperature" in text and "sum instead of mean" in text
    flagged = text[text.index("<h2 id=flagged>"):text.index("<h2 id=clusters>")]
    assert "<b>hostile</b>" in flagged and "<b>crash</b>" in flagged and "<b>correct</b>" not in flagged


def test_resume_skips_graded_folders_and_force_regrades(batch, tmp_path, key):
    classdir, shared_out, _, _, _ = batch
    small = tmp_path / "class"
    small.mkdir()
    for name in ("correct", "stub"):
        shutil.copytree(classdir / name, small / name)
    out = small / "out"  # OUT inside the submissions folder: not a submission itself
    out.mkdir()
    shutil.copyfile(shared_out / "correct.json", out / "correct.json")  # graded by an earlier (interrupted) run
    before = (out / "correct.json").stat().st_mtime_ns

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_batch(small, out, jobs=2, limits=TEST_LIMITS) == 0
    assert "1 already graded" in err.getvalue() and "2/2 graded" in err.getvalue()
    assert (out / "correct.json").stat().st_mtime_ns == before
    assert [t["score"] for t in read(out, "stub")["tests"]] == [t["score"] for t in read(shared_out, "stub")["tests"]]
    rows = list(csv.reader(open(out / "grades.csv", newline="")))
    assert [r[0] for r in rows[1:]] == ["correct", "stub"]  # complete, though only one was graded now
    assert not (out / "out.json").exists()

    stub_mtime = (out / "stub.json").stat().st_mtime_ns
    start = time.monotonic()
    with contextlib.redirect_stderr(io.StringIO()):
        assert run_batch(small, out, jobs=2, limits=TEST_LIMITS) == 0  # nothing left to do: no worker started
    assert time.monotonic() - start < 20
    assert (out / "stub.json").stat().st_mtime_ns == stub_mtime

    time.sleep(0.01)
    with contextlib.redirect_stderr(io.StringIO()):
        assert run_batch(small, out, jobs=1, force=True, limits=TEST_LIMITS) == 0
    assert (out / "correct.json").stat().st_mtime_ns != before
    assert (out / "stub.json").stat().st_mtime_ns != stub_mtime
    assert read(out, "correct")["score"] == 44


def test_missing_or_wrong_folders(tmp_path, capsys):
    assert run_batch(tmp_path / "nope", tmp_path / "out") == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert run_batch(tmp_path, tmp_path / "file") == 2
    assert "not a folder" in capsys.readouterr().err
    assert run_batch(tmp_path, tmp_path / "out", jobs=0) == 2
    assert "--jobs" in capsys.readouterr().err

    from simgrade.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--batch", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_empty_class(tmp_path, key):
    (tmp_path / "class").mkdir()
    assert run_batch(tmp_path / "class", tmp_path / "out") == 0
    assert (tmp_path / "out" / "grades.csv").read_text() == ",".join(["name", "total", *key.question_ids]) + "\n"
    assert "Nothing graded yet" in (tmp_path / "out" / "report.html").read_text()


# ------------------------------------------------------------------------------------------ worker failures
def scripted_worker(conn, limits, isolation, out_dir, protect):
    """Stands in for the grader worker (run in the worker process): behaves as the folder's name says."""
    from simgrade.results import write_json_atomic

    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        name, folder = task
        conn.send(("start", name))
        if name == "dies":
            os._exit(7)
        if name == "dies_once" and not (Path(folder) / "tried").exists():
            (Path(folder) / "tried").touch()
            os._exit(7)
        if name == "hangs":
            time.sleep(3600)
        if name == "grader_bug":
            conn.send(("error", name, "ValueError: a bug in the grader"))
            continue
        write_json_atomic(Path(out_dir) / f"{name}.json", {"score": 1, "max_score": 1, "tests": [], "output": ""})
        conn.send(("done", name, 1, 1, 0.0, []))


def dead_on_arrival(conn, limits, isolation, out_dir, protect):
    os._exit(3)


class NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, *args, **kwargs):
        pass


def test_dead_or_stuck_workers_are_replaced(tmp_path):
    from simgrade.batch import _grade_all

    names = ["dies", "dies_once", "fine_a", "fine_b", "grader_bug", "hangs", "fine_c"]
    for name in names:
        (tmp_path / name).mkdir()
    todo = [(n, str(tmp_path / n)) for n in names]
    start = time.monotonic()
    state = _grade_all(todo, tmp_path, 2, TEST_LIMITS, "none", NoBar(), target=scripted_worker, budget=3.0)
    assert time.monotonic() - start < 60
    assert state.fatal is None
    assert sorted(state.done) == ["dies_once", "fine_a", "fine_b", "fine_c"]
    assert set(state.failed) == {"dies", "grader_bug", "hangs"}
    assert "exit code 7" in state.failed["dies"] and "longer than 3 s" in state.failed["hangs"]
    assert state.attempts["dies"] == 2 and state.attempts["hangs"] == 1


def test_workers_that_cannot_start_stop_the_batch(tmp_path):
    from simgrade.batch import _grade_all

    todo = [(f"s{i}", str(tmp_path)) for i in range(5)]
    state = _grade_all(todo, tmp_path, 2, TEST_LIMITS, "none", NoBar(), target=dead_on_arrival)
    assert state.fatal and "before grading anything" in state.fatal and not state.done
