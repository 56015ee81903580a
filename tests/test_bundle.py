"""``grader.py --gradescope-bundle``: the zip's layout, and its run_autograder in a temporary /autograder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from simgrade import PROJECT_ROOT
from simgrade.bundle import TORCH_INDEX, torch_version, write_bundle

REQUIRED = ["setup.sh", "run_autograder", "requirements.txt", "grader.py", "pyproject.toml", "answers/key.toml",
            "simgrade/__init__.py", "simgrade/cli.py", "simgrade/grade.py", "simgrade/sandbox/__init__.py",
            "simgrade/sandbox/inside/worker.py", "reference/__init__.py", "reference/losses.py", "checks/__init__.py"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("bundle") / "sub" / "autograder.zip")


def mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0o777


def test_members(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
    for name in REQUIRED:
        assert name in names, name
    for name in names:
        parts = name.split("/")
        assert parts[0] in {"setup.sh", "run_autograder", "requirements.txt", "grader.py", "pyproject.toml", "README.md",
                            "simgrade", "reference", "checks", "answers"}, name
        assert "__pycache__" not in parts and not name.endswith(".pyc") and not any(p.startswith(".") for p in parts)
    assert len(names) == len(set(names))


def test_scripts_are_executable_and_parse(bundle):
    with zipfile.ZipFile(bundle) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        for name in ("setup.sh", "run_autograder"):
            assert infos[name].create_system == 3 and mode(infos[name]) == 0o755, name
            text = archive.read(name).decode()
            assert text.startswith("#!/usr/bin/env bash\n")
            assert subprocess.run(["bash", "-n", "-c", text]).returncode == 0, name
        assert mode(infos["simgrade/grade.py"]) == 0o644
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode().split()
    assert "apt-get install" in setup and "bubblewrap" in setup and "python3-venv" in setup
    assert f'"torch=={torch_version()}" --index-url {TORCH_INDEX}' in setup
    assert "-r \"$SOURCE/requirements.txt\"" in setup
    assert not any(r.lower().startswith("torch") for r in requirements)
    assert {r.split("==")[0] for r in requirements} >= {"numpy", "sympy", "hypothesis", "nbformat", "tqdm"}
    assert all("==" in r for r in requirements)  # pinned to the versions the grader was tested with


def test_reproducible(bundle, tmp_path):
    assert write_bundle(tmp_path / "again.zip").read_bytes() == bundle.read_bytes()


def unpack(bundle: Path, root: Path) -> None:
    """What Gradescope does: the zip into $ROOT/source, run_autograder copied to $ROOT."""
    source = root / "source"
    source.mkdir(parents=True)
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-q", str(bundle), "-d", str(source)], check=True)
    else:
        with zipfile.ZipFile(bundle) as archive:
            for info in archive.infolist():
                archive.extract(info, source)
                os.chmod(source / info.filename, mode(info))
    shutil.copy2(source / "run_autograder", root / "run_autograder")


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    return subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_run_autograder_in_a_temporary_root(bundle, tmp_path, samples, key):
    root = tmp_path / "autograder"
    unpack(bundle, root)
    shutil.copytree(samples / "missing_temperature", root / "submission")
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 100, "tests": []}')  # left by someone: replaced
    run = run_autograder(root)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert {"score", "max_score", "execution_time", "output", "tests"} <= set(data)
    assert data["max_score"] == 44 and data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    by_question: dict[str, float] = {}
    for test in data["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"} <= set(test)
        question = test["number"].rsplit(".", 1)[0]
        by_question[question] = by_question.get(question, 0.0) + test["score"]
    assert list(by_question) == key.question_ids
    assert by_question["7b"] == 10 and 0 <= by_question["8a"] < 10
    assert any("missing temperature" in t["output"] for t in data["tests"] if t["number"].startswith("8a."))
    assert "Total:" in run.stdout  # the human report goes to Gradescope's stdout log


def test_run_autograder_without_a_submission_leaves_no_result(bundle, tmp_path):
    root = tmp_path / "autograder"
    unpack(bundle, root)
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 100, "tests": []}')
    run = run_autograder(root)
    assert run.returncode != 0
    assert not (root / "results" / "results.json").exists()
    assert "does not exist" in run.stderr


def test_command_line(tmp_path):
    run = subprocess.run([sys.executable, "grader.py", "--gradescope-bundle", str(tmp_path / "ag.zip")], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"wrote {tmp_path / 'ag.zip'}"
    assert zipfile.is_zipfile(tmp_path / "ag.zip")
