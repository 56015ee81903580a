"""The trust boundary where courses run the grader: as root, with bubblewrap and with ``--isolation none``.

Each test is one attack, made by a student function, in both modes. Skipped when not root (what
they check is what root would otherwise give away); bubblewrap's rows skip where it is missing.
"""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from simgrade import PROJECT_ROOT
from simgrade.probes import Case, make_probe
from simgrade.sandbox import Sandbox, Session
from simgrade.sandbox.inside import uids
from simgrade.sandbox.limits import Limits

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these attacks are about a grader that runs as root")
MODES = [pytest.param("bwrap", marks=pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")),
         "none"]
LIMITS = Limits(call_seconds=10, load_seconds=10, output_bytes=4096)
MARKER = "simgrade-test-survivor"


def run(box: Sandbox, source: str) -> tuple[dict, str, Session]:
    """Call the student's ``contrastive_loss`` once; its reply, what it printed, and the closed session."""
    program = {"origin": "similarity.py", "function": "contrastive_loss",
               "chunks": [{"source": source, "label": "all", "kind": "def"}]}
    session = Session(box, [program], {"similarity.py": source.encode()})
    probe = make_probe(Case("contrastive_loss", 4, 3))
    reply, _ = session.call("contrastive_loss", probe.message, probe.arrays)
    session.close()
    return reply, session.output, session


def outcome(reply: dict) -> dict:
    """The JSON a probe function raised with (the runner reports the exception's text)."""
    assert reply["status"] == "error", reply
    return json.loads(reply["error"].split(": ", 1)[1])


def host_uid(pid: int) -> int:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["Uid"].split()[0])


@pytest.mark.parametrize("mode", MODES)
def test_student_code_never_runs_as_root(mode):
    attack = f"""
import json, os
def attempt(action):
    try:
        action()
        return "done"
    except OSError as error:
        return type(error).__name__
def write_back(path):
    value = open(path).read()
    with open(path, "w") as f:  # its own value: harmless if it ever got through
        f.write(value)
def contrastive_loss(enc, batch1, batch2, tau):
    raise RuntimeError(json.dumps({{
        "uid": os.getuid(), "euid": os.geteuid(),
        "sysctl": attempt(lambda: write_back("/proc/sys/vm/swappiness")),
        "shadow": attempt(lambda: open("/etc/shadow").read()),
        "key": attempt(lambda: open({str(PROJECT_ROOT / "answers" / "key.toml")!r}).read()),
        "reference": attempt(lambda: open({str(PROJECT_ROOT / "reference" / "losses.py")!r}).read()),
        "project": attempt(lambda: open({str(PROJECT_ROOT / "x")!r}, "w")),
    }}))
"""
    with Sandbox(LIMITS, isolate=mode) as box:
        box.wait_ready()
        seen = outcome(run(box, attack)[0])
        if mode == "bwrap":  # bubblewrap itself runs as the dedicated uid: the outermost mapping is unprivileged
            assert uids.UID_BASE <= host_uid(box.process.pid) < uids.UID_BASE + uids.UID_COUNT
    assert seen["uid"] != 0 and seen["euid"] != 0
    assert mode == "bwrap" or uids.UID_BASE <= seen["uid"] < uids.UID_BASE + uids.UID_COUNT
    assert "done" not in seen.values(), seen  # each refused by the kernel, not skipped
    assert not (PROJECT_ROOT / "x").exists()


@pytest.mark.parametrize("mode", MODES)
def test_nothing_a_submission_starts_or_writes_reaches_the_next(mode, tmp_path):
    planter = f"""
import ctypes, os, subprocess, sys
def contrastive_loss(enc, batch1, batch2, tau):
    libc = ctypes.CDLL(None)
    if os.fork() == 0:
        libc.prctl(1, 0)  # no parent-death signal
        os.setsid()
        os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)", {MARKER!r}])
    planted = []
    for folder in ("/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp")):
        try:
            with open(os.path.join(folder, "planted-by-a-classmate"), "w") as f:
                f.write("x" * 1000)
            planted.append(folder)
        except OSError:
            pass
    raise RuntimeError(repr(planted))
"""
    finder = """
import json, os
def contrastive_loss(enc, batch1, batch2, tau):
    found = [os.path.join(f, n) for f in ("/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp"))
             for n in os.listdir(f) if n == "planted-by-a-classmate"]
    raise RuntimeError(json.dumps(found))
"""
    with Sandbox(LIMITS, isolate=mode) as box:
        reply, _, _ = run(box, planter)
        assert reply["status"] == "error" and "/dev/shm" in reply["error"]  # it could write somewhere of its own
        time.sleep(0.3)
        assert survivors() == []
        assert outcome(run(box, finder)[0]) == []
    assert survivors() == []
    assert not [p for p in Path("/dev/shm").iterdir() if p.name == "planted-by-a-classmate"]


def survivors() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if MARKER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("mode", MODES)
def test_places_the_grader_protects_are_out_of_reach(mode, tmp_path):
    secret = tmp_path / "other_student" / "similarity.py"
    secret.parent.mkdir()
    secret.write_text("# another student's work\n")
    results = tmp_path / "results"
    results.mkdir()
    attack = f"""
import json, os
def contrastive_loss(enc, batch1, batch2, tau):
    seen = {{}}
    for action, path in (("read", {str(secret)!r}), ("list", {str(tmp_path)!r}), ("write", {str(results / "results.json")!r})):
        try:
            open(path, "w").close() if action == "write" else (os.listdir(path) if action == "list" else open(path).read())
            seen[action] = "done"
        except OSError as error:
            seen[action] = type(error).__name__
    raise RuntimeError(json.dumps(seen))
"""
    with Sandbox(LIMITS, isolate=mode, protect=[tmp_path]) as box:
        reply, _, session = run(box, attack)
    assert "done" not in outcome(reply).values()
    assert not any("could" in event for event in session.events), session.events
    assert not (results / "results.json").exists()


def test_memory_limit_holds_for_the_whole_process_tree():
    """Three children of 400 MiB each against 600 MiB for the sandbox: RLIMIT_AS alone would let all three through.

    What the limit guarantees is that no two of them hold their 400 MiB at the same time, so the test counts the
    children that held it for the whole 5 s. (Counting those that got as far as holding it would be flaky: under
    load the children allocate one after another, and the OOM killer takes the largest, the one already holding.)"""
    hog = """
import os, time
def contrastive_loss(enc, batch1, batch2, tau):
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            block = bytearray(400 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(5)
            print("held 400 MiB for 5 s", flush=True)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return 1.0
"""
    with Sandbox(Limits(call_seconds=30, memory_bytes=600 << 20), isolate="auto") as box:
        box.wait_ready()
        if "(cgroup)" not in box.isolation:
            pytest.skip("no memory cgroup on this machine")
        _, output, _ = run(box, hog)
    assert output.count("held 400 MiB for 5 s") <= 1, output
