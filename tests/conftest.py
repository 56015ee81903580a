"""Shared fixtures: one sandbox per test process (a zygote that imported torch once), the key, the samples."""
import shutil
from pathlib import Path

import pytest

from simgrade.key import load_key
from simgrade.sandbox import Sandbox
from simgrade.sandbox.limits import Limits

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "samples"  # see its README.md
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
def samples(tmp_path_factory) -> Path:
    """A read-only copy of the five sample submissions of tests/fixtures/samples/ (see its README.md).

    Graded code runs on the copy, so a submission that writes next to itself (``hostile/``) can never
    leave a file in the repository, even where the grader runs as a user without bubblewrap.
    """
    root = tmp_path_factory.mktemp("samples") / "samples"
    shutil.copytree(SAMPLES, root)
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return root
