"""The sandbox: isolation, limits, and survival of hostile code (bubblewrap when installed)."""
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from simgrade import PROJECT_ROOT
from simgrade.probes import Case, make_probe
from simgrade.sandbox import Sandbox, Session
from simgrade.sandbox.inside import protocol
from simgrade.sandbox.limits import Limits

HAVE_BWRAP = shutil.which("bwrap") is not None
LIMITS = Limits(call_seconds=3, load_seconds=5, memory_bytes=512 << 20, output_bytes=2048)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(LIMITS) as box:
        box.wait_ready()
        yield box


def session_for(sandbox, *sources: str) -> Session:
    program = {"origin": "similarity.py", "function": "contrastive_loss",
               "chunks": [{"source": source, "label": f"chunk {i}", "kind": "def"} for i, source in enumerate(sources)]}
    return Session(sandbox, [program], {"similarity.py": "\n".join(sources).encode()})


def call(session: Session) -> dict:
    probe = make_probe(Case("contrastive_loss", 4, 3, "float64", (("tau", 0.5),)))
    reply, arrays = session.call("contrastive_loss", probe.message, probe.arrays)
    reply["value"] = arrays.get("value")
    return reply


CORRECT = """
import torch
import torch.nn.functional as F
def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
"""


def test_correct_function_returns_plain_data(sandbox):
    session = session_for(sandbox, CORRECT)
    reply = call(session)
    session.close()
    assert reply["status"] == "ok" and reply["kind"] == "tensor" and reply["shape"] == []
    assert isinstance(reply["value"], np.ndarray) and np.isfinite(reply["value"]).all()


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not installed")
def test_sandbox_sees_no_project_files_and_no_network(sandbox):
    assert sandbox.isolated, sandbox.isolation
    probe = f"""
import json, os, socket
def contrastive_loss(enc, batch1, batch2, tau):
    seen = [os.path.exists(p) for p in ({str(PROJECT_ROOT / 'answers' / 'key.toml')!r},
                                         {str(PROJECT_ROOT / 'reference' / 'losses.py')!r}, {str(PROJECT_ROOT)!r} + '/grader.py')]
    try:
        import reference.losses
        seen.append(True)
    except ImportError:
        seen.append(False)
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        seen.append(True)
    except OSError:
        seen.append(False)
    writable = []
    for path in ("/usr/x", "/etc/x", {str(PROJECT_ROOT)!r} + "/x"):
        try:
            open(path, "w").close()
            writable.append(True)
        except OSError:
            writable.append(False)
    raise RuntimeError(json.dumps([seen, writable, os.getuid()]))
"""
    session = session_for(sandbox, probe)
    reply = call(session)
    session.close()
    assert reply["status"] == "error"
    seen, writable, uid = json.loads(reply["error"].split(": ", 1)[1])
    assert seen == [False] * 5 and writable == [False] * 3 and uid != 0
    assert not (PROJECT_ROOT / "x").exists()


def test_infinite_loop_is_stopped_at_the_time_limit(sandbox):
    session = session_for(sandbox, "def contrastive_loss(enc, batch1, batch2, tau):\n    while True:\n        pass\n")
    start = time.monotonic()
    reply = call(session)
    elapsed = time.monotonic() - start
    assert reply["status"] == "timeout" and LIMITS.call_seconds <= elapsed < LIMITS.call_seconds + 3
    assert call(session)["status"] == "timeout" and time.monotonic() - start < elapsed + 1  # not retried
    session.close()


def test_exit_at_import_and_in_call_are_contained(sandbox):
    session = session_for(sandbox, "import os\nos._exit(3)\n")
    assert call(session)["status"] == "load_failed"
    session.close()
    session = session_for(sandbox, "import sys\nsys.exit(1)\n", CORRECT)
    assert call(session)["status"] == "ok"  # SystemExit in a chunk skips that chunk only
    session.close()
    session = session_for(sandbox, "import os\ndef contrastive_loss(enc, batch1, batch2, tau):\n    os._exit(0)\n")
    assert call(session)["status"] == "crashed"
    session.close()


def test_memory_hog_fails_inside_the_sandbox(sandbox):
    session = session_for(sandbox, "def contrastive_loss(enc, batch1, batch2, tau):\n    x = bytearray(2 << 30)\n    return x\n")
    reply = call(session)
    session.close()
    assert reply["status"] == "error" and "MemoryError" in reply["error"]


def test_output_flood_is_truncated(sandbox):
    session = session_for(sandbox, "def contrastive_loss(enc, batch1, batch2, tau):\n    print('x' * 10_000_000)\n    return 1.0\n")
    assert call(session)["status"] == "ok"
    session.close()
    assert len(session.output) < LIMITS.output_bytes + 200 and "more bytes of output not kept" in session.output


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not installed")
def test_escaped_processes_die_with_the_runner(sandbox, tmp_path):
    escaper = """
import subprocess, sys, time
def contrastive_loss(enc, batch1, batch2, tau):
    subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"], start_new_session=True)
    time.sleep(60)
"""
    before = _sleepers()
    session = session_for(sandbox, escaper)
    assert call(session)["status"] == "timeout"
    session.close()
    time.sleep(0.5)
    assert _sleepers() <= before


def _sleepers() -> int:
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"while True: time.sleep(0.05)" in Path(f"/proc/{pid}/cmdline").read_bytes():
                count += 1
        except OSError:
            pass
    return count


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not installed")
def test_fork_bomb_is_capped_and_cleaned_up():
    bomb = """
import os
def contrastive_loss(enc, batch1, batch2, tau):
    n = 0
    try:
        while True:
            if os.fork() == 0:
                import time; time.sleep(30); os._exit(0)
            n += 1
    except OSError:
        raise RuntimeError(f"capped after {n}")
"""
    with Sandbox(Limits(call_seconds=30, processes=64)) as sandbox:  # forking a torch process is slow on a busy machine
        session = session_for(sandbox, bomb)
        reply = call(session)
        session.close()
    assert reply["status"] == "error" and "capped after" in reply["error"]
    assert int(reply["error"].rsplit(" ", 1)[1]) <= 64


def test_fake_result_files_stay_inside(sandbox, tmp_path):
    writer = f"""
import os
for folder in (os.getcwd(), "/tmp", {str(tmp_path)!r}):
    try:
        open(os.path.join(folder, "results.json"), "w").write('{{"score": 100}}')
    except OSError:
        pass
""" + CORRECT
    session = session_for(sandbox, writer)
    assert call(session)["status"] == "ok"
    session.close()
    assert not (tmp_path / "results.json").exists() or not HAVE_BWRAP
    assert not Path("/tmp/results.json").exists() or not HAVE_BWRAP


def test_protocol_refuses_pickled_arrays():
    import io
    import socket
    import struct

    a, b = socket.socketpair()
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    header = b'{"arrays": ["x"]}'
    a.sendall(struct.pack("<I", len(header)) + header + struct.pack("<Q", len(buffer.getvalue())) + buffer.getvalue())
    with pytest.raises(protocol.ProtocolError, match="not a plain numpy array"):
        protocol.receive(b)


def test_unisolated_mode_says_so_plainly():
    with Sandbox(LIMITS, isolate="none") as box:
        session = session_for(box, CORRECT)
        assert call(session)["status"] == "ok"
        session.close()
        assert box.isolation.startswith("NOT ISOLATED")
