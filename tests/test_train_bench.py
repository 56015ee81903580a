"""scripts/bench_train.py: images/s of every encoder, as one JSON line (micro preset, a few steps)."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reports_every_encoder(bench, capsys):
    assert bench.main(["--preset", "micro", "--steps", "2", "--warmup", "0"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert list(line["results"]) == ["autoencoder", "A", "B", "C"]
    for name, r in line["results"].items():
        assert r["images_per_second"] > 0 and r["steps"] == 2 and r["batch"] == 32
        assert (r["ratio"] is None) == (name == "autoencoder")      # the course's pace is a contrastive one
    assert line["device"] in ("cpu", "cuda") or line["device"].startswith("cuda")


def test_rejects_unknown_encoder(bench):
    with pytest.raises(SystemExit):
        bench.main(["--preset", "micro", "--encoders", "D"])
