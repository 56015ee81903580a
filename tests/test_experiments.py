"""reference/experiments.py on the micro preset: metrics.json has exactly the promised form, figures exist,
and cached_run trains once per cache key."""
import json
from dataclasses import replace

import pytest

from reference import experiments

FACTORS = {"color", "shape", "location"}


def _check_metrics(metrics: dict):
    assert set(metrics) == {"encoders", "chance"}
    assert set(metrics["encoders"]) == set(experiments.ENCODERS)
    assert set(metrics["chance"]) == FACTORS
    for entry in metrics["encoders"].values():
        assert set(entry) == {"knn_accuracy", "alignment", "uniformity"}
        assert set(entry["knn_accuracy"]) == FACTORS
        assert all(0.0 <= v <= 1.0 for v in entry["knn_accuracy"].values())
        assert 0.0 <= entry["alignment"] <= 4.0 + 1e-6        # squared distances of unit vectors
        assert -4.0 - 1e-6 <= entry["uniformity"] <= 1e-6
    assert all(0.0 < v < 1.0 for v in metrics["chance"].values())


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMGRADE_CACHE", str(tmp_path_factory.mktemp("cache")))
        assert experiments.main(["--preset", "micro", "--out", str(out), "--no-progress"]) == 0
    return out


def test_metrics_json_form(micro_run):
    metrics = json.loads((micro_run / "metrics.json").read_text())
    _check_metrics(metrics)


def test_figures_and_details(micro_run):
    for name in experiments.ENCODERS:
        png = micro_run / f"nn_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (micro_run / f"{name}.pt").exists()
    details = json.loads((micro_run / "details.json").read_text())
    geo = details["geometry"]["contrastive_A"]
    assert set(geo) == {"0", "1"}                     # before training and after each (here: the only) epoch
    assert set(details["untrained"]) == set(experiments.ENCODERS)


def test_checkpoint_loads_weights_only(micro_run):
    import torch

    p = experiments.PRESETS["micro"]
    enc = p.encoder()
    state = torch.load(micro_run / "contrastive_B.pt", weights_only=True)
    enc.load_state_dict(state["encoder"])
    ae = torch.load(micro_run / "autoencoder.pt", weights_only=True)
    p.encoder(autoencoder=True).load_state_dict(ae["encoder"])
    p.decoder().load_state_dict(ae["decoder"])


def test_cached_run_trains_once(tmp_path, monkeypatch, micro_run):
    """Two callers (the second as if in a new process) share one run, kept under the cache key."""
    monkeypatch.setenv("SIMGRADE_CACHE", str(tmp_path))
    monkeypatch.setattr(experiments, "_MEMO", {})
    calls = []

    def fake_run(preset, out, **kwargs):                # copies the micro run's files instead of training
        calls.append(preset)
        for name in ("metrics.json", "details.json"):
            (out / name).write_text((micro_run / name).read_text())

    monkeypatch.setattr(experiments, "run", fake_run)
    metrics, details = experiments.cached_run("micro")
    _check_metrics(metrics)
    experiments._MEMO.clear()                           # a new process: reads the disk cache
    again, _ = experiments.cached_run("micro")
    assert again == metrics and calls == [experiments.PRESETS["micro"]]
    folder = tmp_path / "experiments" / f"micro-{experiments.config_key(experiments.PRESETS['micro'])}"
    assert (folder / "metrics.json").exists()


def test_cli_rejects_unknown_encoder(tmp_path):
    with pytest.raises(SystemExit):
        experiments.main(["--preset", "micro", "--out", str(tmp_path), "--encoders", "vae"])


def test_cli_seed_and_epochs_scale(tmp_path, monkeypatch):
    """``--seed`` replaces the training seed only (the images stay the preset's); ``--epochs-scale`` the epochs."""
    seen = []
    monkeypatch.setattr(experiments, "run", lambda p, out, **kwargs: seen.append(p) or {})
    experiments.main(["--preset", "micro", "--out", str(tmp_path), "--seed", "3", "--epochs-scale", "2"])
    micro = experiments.PRESETS["micro"]
    assert seen == [replace(micro, seed=3, ae_epochs=2, contrastive_epochs=2)]
    assert seen[0].data_seed == micro.data_seed


def test_preset_networks():
    """The autoencoder takes ``ae_channels`` when given (else ``channels``); the contrastive encoders are unit vectors."""
    p = replace(experiments.PRESETS["micro"], ae_channels=(4, 8, 12))
    ae, contrastive, dec = p.encoder(autoencoder=True), p.encoder(), p.decoder()
    assert [m.out_channels for m in ae.net if hasattr(m, "out_channels")] == [4, 8, 12, p.latent]
    assert [m.out_channels for m in contrastive.net if hasattr(m, "out_channels")] == [*p.channels, p.latent]
    assert [m.out_channels for m in dec.net if hasattr(m, "out_channels")] == [12, 8, 4, 3]
    assert not ae.normalize and contrastive.normalize
    same = experiments.PRESETS["micro"]
    assert [m.out_channels for m in same.encoder(autoencoder=True).net if hasattr(m, "out_channels")] == [*same.channels, same.latent]
