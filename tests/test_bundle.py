"""``grader.py --gradescope-bundle``: the zip's layout, and its run_autograder in a temporary /autograder."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
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
    assert f'TORCH_SPEC=${{TORCH_SPEC:-"torch=={torch_version()} --index-url {TORCH_INDEX}"}}' in setup
    assert 'pip install --no-cache-dir $TORCH_SPEC\n' in setup
    assert 'chmod -R o+rX "$ROOT/venv"' in setup and 'chmod -R go-rwx "$SOURCE"' in setup
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


def run_autograder(root: Path, python: str = sys.executable, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": python, **env}
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


# ------------------------------------------------------------------ as root, without bubblewrap
# On Gradescope bubblewrap cannot run (no namespaces in its containers), so the grader falls back to
# `--isolation none`; as root it must then run student code as an unprivileged uid. File permissions
# (set by setup.sh, asserted again by run_autograder) are all that keeps that uid from the key and
# the results: these tests check them, and what student code can do through them.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the bundle's permissions and the "
                                "sandbox's switch to an unprivileged uid only happen when run as root")
NOBODY = 65534


@pytest.fixture
def world_root():
    """An AUTOGRADER_ROOT any uid can pass through, as /autograder is: not under pytest's tmp_path (0700), nor
    under /tmp or /dev/shm, which the sandbox replaces with private ones where it can."""
    top = Path(tempfile.mkdtemp(prefix="simgrade-bundle-", dir="/var/tmp"))
    top.chmod(0o755)
    yield top / "autograder"
    shutil.rmtree(top, ignore_errors=True)


def stub(path: Path, text: str) -> None:
    path.write_text("#!/bin/bash\n" + text)
    path.chmod(0o755)


@needs_root
@pytest.mark.parametrize("torch_spec", [None, "/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"])
def test_setup_sh_permissions(bundle, world_root, torch_spec):
    """setup.sh with apt-get and python3 stubbed: the venv readable by all, the source and results root's alone."""
    root = world_root
    unpack(bundle, root)
    root.chmod(0o777)
    stubs, calls = root.parent / "stubs", root.parent / "calls"
    stubs.mkdir()
    stub(stubs / "apt-get", "exit 0\n")
    stub(stubs / "python3", f"""
if [ "$1" = -m ] && [ "$2" = venv ]; then  # a venv made under a strict umask: nothing readable by others
    umask 077
    mkdir -p "$3/bin" "$3/lib/python3.11/site-packages/torch"
    touch "$3/lib/python3.11/site-packages/torch/__init__.py"
    printf '#!/bin/bash\\necho "$*" >> {calls}\\n' > "$3/bin/python"
    chmod 700 "$3/bin/python"
fi
""")
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "AUTOGRADER_ROOT": str(root)}
    if torch_spec:
        env["TORCH_SPEC"] = torch_spec
    run = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    want = torch_spec or f"torch=={torch_version()} --index-url {TORCH_INDEX}"
    assert f"-m pip install --no-cache-dir {want}" in calls.read_text().splitlines()
    for path in [root / "venv", *(root / "venv").rglob("*")]:
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH, path
        assert mode & stat.S_IXOTH or not (path.is_dir() or mode & stat.S_IXUSR), path
    for folder in (root / "venv").parents:
        assert folder.stat().st_mode & stat.S_IXOTH, folder
    for path in [root / "source", *(root / "source").rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0 and info.st_mode & 0o077 == 0, f"{path}: {oct(info.st_mode)}"
    for folder in (root, root / "results"):
        info = folder.stat()
        assert info.st_uid == 0 and info.st_mode & 0o022 == 0, f"{folder}: {oct(info.st_mode)}"


def runs_unprivileged(python: str) -> bool:
    """Whether an unprivileged uid can start this interpreter and import torch from its venv."""
    try:
        return subprocess.run([python, "-c", "import torch"], user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
                              capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture
def unprivileged_python(world_root):
    """The project venv's python when any uid can run it (as setup.sh makes the bundle's venv). Else a thin venv
    on the system python3.11 that reads the project venv's packages: a venv of a python under /root (0700)
    cannot be run by another uid at all, a property of this checkout, not of the bundle."""
    project = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    if runs_unprivileged(project):
        return project
    system = shutil.which("python3.11", path="/usr/bin:/bin")
    if system is None:
        pytest.skip(f"{project} cannot be run by an unprivileged uid, and there is no /usr/bin/python3.11")
    thin = world_root.parent / "venv"
    subprocess.run([system, "-m", "venv", "--without-pip", str(thin)], check=True, capture_output=True)
    site = next((PROJECT_ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    (next(thin.glob("lib/python3*/site-packages")) / "project_venv.pth").write_text(f"{site}\n")
    python = str(thin / "bin" / "python")
    if not runs_unprivileged(python):
        pytest.skip(f"neither {project} nor a venv on {system} can be run by an unprivileged uid")
    return python


MARK = "sgtest-daemon"  # in the command line of one daemon, and the name (/proc/PID/comm) of the other
HOSTILE = r'''
"""Reads the key where the bundle put it and shows it; leaves two daemons that rewrite results.json."""
import ctypes
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = "@ROOT@"
MARK = "@MARK@"
DONE = {}
WRITER = """
import json, sys, time
deadline = time.time() + 60
while time.time() < deadline:
    try:
        with open(sys.argv[2] + "/results/results.json", "w") as f:
            json.dump({"score": 44, "max_score": 44, "tests": [], "output": "rewritten by " + sys.argv[1]}, f)
    except OSError:
        pass
    time.sleep(0.1)
"""


def leave_daemons():
    for how in ("exec", "fork"):
        if os.fork() == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    if how == "exec":
                        os.execv(sys.executable, [sys.executable, "-c", WRITER, MARK, ROOT])
                    ctypes.CDLL(None).prctl(15, MARK.encode(), 0, 0, 0)  # PR_SET_NAME
                    sys.argv[1:] = [MARK, ROOT]
                    exec(WRITER, {})
            finally:
                os._exit(0)
        os.wait()


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        try:
            leave_daemons()
        except OSError as error:
            print("no daemon:", error)
        try:
            with open(ROOT + "/source/answers/key.toml") as f:
                DONE["said"] = f"read the key as uid={os.getuid()}:\n{f.read()}"
        except OSError as error:
            DONE["said"] = f"no key as uid={os.getuid()}: {error}"
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
'''


def marked_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if MARK.encode() in (entry / "cmdline").read_bytes() or (entry / "comm").read_text().strip() == MARK:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@needs_root
@pytest.mark.parametrize("docker_like", [False, True], ids=["this-machine", "no-cap-sys-admin"])
def test_run_autograder_as_root_without_isolation_keeps_student_code_away(bundle, world_root, docker_like, request):
    """Gradescope's case: root, `--isolation none`. Student code must not run as root, read the key, leave
    processes, or rewrite results.json after run_autograder exited.

    this-machine: the project venv's python, with whatever this machine allows (as root here, the sandbox
    can hide the project in a mount namespace of its own). no-cap-sys-admin: root without CAP_SYS_ADMIN, as
    in Docker's default profile, so no mount namespace hides the project: the bundle's file permissions must
    keep the key from student code."""
    if docker_like and not shutil.which("setpriv"):
        pytest.skip("no setpriv (util-linux) to drop CAP_SYS_ADMIN")
    root = world_root
    unpack(bundle, root)
    (root / "submission").mkdir()
    (root / "submission" / "similarity.py").write_text(HOSTILE.replace("@ROOT@", str(root)).replace("@MARK@", MARK))
    if docker_like:
        python = request.getfixturevalue("unprivileged_python")
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": python, "SIMGRADE_ISOLATION": "none"}
        run = subprocess.run(["setpriv", "--bounding-set", "-sys_admin", str(root / "run_autograder")], cwd=root,
                             env=env, capture_output=True, text=True, timeout=300)
    else:
        run = run_autograder(root, python=str(PROJECT_ROOT / ".venv" / "bin" / "python"), SIMGRADE_ISOLATION="none")
    results = root / "results" / "results.json"
    written = results.read_bytes() if results.exists() else b""
    time.sleep(3)  # the daemons rewrite it every 0.1 s
    later = results.read_bytes() if results.exists() else b""
    survivors = marked_processes()
    for pid in survivors:  # never leave them behind, whatever the outcome
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads(written)
    text = "\n".join(strings(data))
    first_line = data["output"].split("\n", 1)[0]
    assert "NOT ISOLATED" in first_line, first_line
    key = [line.strip() for line in (root / "source" / "answers" / "key.toml").read_text().splitlines()
           if len(line.strip()) >= 12 and (line.startswith("#") or " = " in line)]
    assert not [line for line in key if line in text], "the key's text is in results.json: " + first_line
    assert later == written, "results.json was rewritten after run_autograder exited"
    assert not survivors, f"processes of the submission survived it: {survivors}"
    assert "uid=" in text, "the submission's report is missing: did its code run at all?\n" + text[-3000:]
    assert not re.search(r"\buid=0\b", text), "student code ran as root: " + first_line
    assert all(t["score"] == t["max_score"] for t in data["tests"] if t["number"].startswith("8a."))
