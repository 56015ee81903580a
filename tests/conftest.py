"""Shared fixtures: one sandbox per test process (a zygote that imported torch once), the key, the samples."""
from pathlib import Path

import pytest

from simgrade import PROJECT_ROOT
from simgrade.key import load_key
from simgrade.sandbox import Sandbox
from simgrade.sandbox.limits import Limits

SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"
TEST_LIMITS = Limits(call_seconds=4, load_seconds=8)  # short, so hostile submissions stop quickly


@pytest.fixture(scope="session")
def key():
    return load_key()


@pytest.fixture(scope="session")
def sandbox():
    with Sandbox(TEST_LIMITS) as box:
        box.wait_ready()
        yield box


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not beside this checkout")
    return SAMPLES
