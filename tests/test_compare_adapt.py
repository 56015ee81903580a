"""compare.py's adaptations to correct course code: float64 inputs that raise a dtype mismatch are
graded in float32; torch's own NotImplementedError is not an unfinished stub (docs/DISCOVERY.md)."""
from __future__ import annotations

import numpy as np

from simgrade.compare import Observation, _dtype_mismatch, _stub_raised
from simgrade.probes import Case


def _obs(dtype: str, reply: dict) -> Observation:
    return Observation(Case("f", 2, 2, dtype), reply, None, {}, 0.0, {})


def test_a_dtype_mismatch_on_float64_is_retried():
    error = {"status": "error", "error_type": "RuntimeError",
             "error": "RuntimeError: mat1 and mat2 must have the same dtype, but got Float and Double"}
    assert _dtype_mismatch(_obs("float64", error))
    assert _dtype_mismatch(_obs("float64", {**error, "error": "RuntimeError: expected scalar type Double but found Float"}))
    assert not _dtype_mismatch(_obs("float32", error))  # already the course's dtype
    assert not _dtype_mismatch(_obs("float64", {**error, "error": "RuntimeError: shape mismatch"}))
    assert not _dtype_mismatch(_obs("float64", {**error, "error_type": "NotImplementedError"}))
    assert not _dtype_mismatch(_obs("float64", {"status": "ok"}))


def test_torch_not_implemented_is_not_a_stub():
    torch_error = {"error": "NotImplementedError: \"log_softmax_lastdim_kernel_impl\" not implemented for 'Long'"}
    stub = {"error": "NotImplementedError: FIXME: write the function"}
    assert not _stub_raised(torch_error)
    assert _stub_raised(stub)
    assert _stub_raised({"error": "NotImplementedError: "})
    # the runner's own word wins when the reply carries it
    assert _stub_raised({**torch_error, "raised_by_submission": True})
    assert not _stub_raised({**stub, "raised_by_submission": False})


def test_float32_observation_uses_float32_tolerance():
    obs = Observation(Case("f", 2, 2, "float32"), {"status": "ok"}, np.array(1.00001), {}, 1.0, {})
    assert obs.value_matches()


def test_the_runner_tells_a_stubs_raise_from_torchs_and_compiles_eagerly():
    import torch
    import torch.nn.functional as F

    from simgrade.sandbox.inside import worker

    runner = worker.Runner(None, "/tmp", {})
    runner.origins = ("submission/similarity.py",)
    namespace = {"F": F, "torch": torch}
    source = ("def stub():\n    raise NotImplementedError('FIXME')\n\n"
              "def swapped(logits):\n    return F.cross_entropy(torch.arange(len(logits)), logits)\n")
    exec(compile(source, "submission/similarity.py", "exec"), namespace)
    for function, args, expected in ((namespace["stub"], (), True), (namespace["swapped"], (torch.randn(3, 3),), False)):
        try:
            function(*args)
        except NotImplementedError as error:
            assert runner._raised_by_submission(error) is expected
        else:
            raise AssertionError("no NotImplementedError")
    assert runner._eager(len) is len
    assert runner._eager(mode="max-autotune")(len) is len
