"""Errors located where the student wrote them: the file, the notebook cell and the line in it.

Discovery gives every chunk it generates a line map (generated line -> line of the file or cell); the runner
reports only numbers (program, chunk, line) and the grader turns them into words
(simgrade/discover/where.py). The submissions of tests/fixtures/located/ raise at known places (its
README.md); each is run in the sandbox and the feedback must name exactly those places.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from simgrade.check import check
from simgrade.compare import _failure_reason, observe_many
from simgrade.discover import FunctionSpec, discover, locate
from simgrade.probes import Case
from simgrade.sandbox import Session

HERE = Path(__file__).resolve().parent
LOCATED = HERE / "fixtures" / "located"
SPECS = (FunctionSpec("autoencoder_loss", ("enc", "dec", "batch"), "train_autoencoder", ("batch",), "loss", ("device",)),
         FunctionSpec("contrastive_loss", ("enc", "batch1", "batch2", "tau"), "train_contrastive", ("batch1", "batch2"),
                      "loss", ("device",)))
SANDBOX_TEXT = ("simgrade-runner", "/sandbox", "/tmp", "worker", "submission", "wrapper", "<")
"""What the feedback must never show: sandbox paths, the runner, the generated module and wrapper."""

# (folder, function, error type, the places the feedback names, outermost first): tests/fixtures/located/README.md
EXPECTED = [
    ("notebook", "autoencoder_loss", "ZeroDivisionError",
     ["hw4.ipynb cell 7, line 12: loss = F.mse_loss(recon, batch, reduction='sum') * (1 / pixels)"]),
    ("notebook", "contrastive_loss", "ValueError",
     ["hw4.ipynb cell 9, line 12: loss = info_nce(z1, z2, tau)",
      "hw4.ipynb cell 5, line 9: return F.cross_entropy(logits, labels)", "inside torch"]),
    ("export", "autoencoder_loss", "ZeroDivisionError",
     ["hw4.py, line 59: loss = F.mse_loss(recon, batch, reduction='sum') * (1 / pixels)"]),
    ("export", "contrastive_loss", "ValueError",
     ["hw4.py, line 87: loss = info_nce(z1, z2, tau)", "hw4.py, line 36: return F.cross_entropy(logits, labels)",
      "inside torch"]),
    ("handout", "autoencoder_loss", "KeyError", ['similarity.py, line 16: return ((recon - batch) ** 2).sum() / sizes["N"]']),
    ("handout", "contrastive_loss", "RuntimeError", ["similarity.py, line 23: return F.cross_entropy(logits, labels)",
                                                     "inside torch"]),
]


def _session(sandbox, folder: Path) -> tuple[Session, list[dict]]:
    submission = discover(folder, SPECS, preferred_file="similarity.py")
    programs = [p.message() for p in submission.programs.values()]
    return Session(sandbox, programs, submission.files), programs


def _case(function: str) -> Case:
    return Case(function, 3, 2, "float64", (("tau", 0.5),) if function == "contrastive_loss" else ())


def assert_located(where: str, places: list[str]) -> None:
    assert where == "; ".join(places), where
    assert not any(text in where for text in SANDBOX_TEXT), where


# ------------------------------------------------------------------------------------ in the sandbox
@pytest.fixture(scope="module")
def replies(sandbox) -> dict:
    """(folder, function) -> (the plain error reply, the observation as compare.py keeps it, the programs sent)."""
    out = {}
    for folder in ("notebook", "export", "handout"):
        session, programs = _session(sandbox, LOCATED / folder)
        try:
            for function in ("autoencoder_loss", "contrastive_loss"):
                (obs,) = observe_many(session, [_case(function)])
                out[folder, function] = (obs.reply, obs, programs)
        finally:
            session.close()
    return out


@pytest.mark.parametrize("folder,function,error,places", EXPECTED, ids=[f"{f}-{fn}" for f, fn, _, _ in EXPECTED])
def test_the_feedback_names_the_cell_and_line_the_student_wrote(replies, folder, function, error, places):
    reply, obs, _ = replies[folder, function]
    assert reply["status"] == "error" and reply["error_type"] == error, reply
    assert_located(reply["where"], places)
    assert _failure_reason(obs) == f"raised {reply['error']} (at {reply['where']})"


def test_the_runner_reports_numbers_that_only_the_map_turns_into_the_students_line(replies):
    """Negative control: the runner's own line numbers are the generated wrapper's, not the cell's; a map one line
    off (or none) would name another line, and the check above would fail."""
    reply, _, programs = replies["notebook", "autoencoder_loss"]
    (frame,) = reply["frames"]
    assert frame[2] != 12  # the wrapper's line: only the map says cell 7, line 12
    shifted = locate(programs, {**reply, "frames": [[frame[0], frame[1], frame[2] + 1]]})
    assert shifted != reply["where"]
    with pytest.raises(AssertionError):
        assert_located(shifted, EXPECTED[0][3])
    unmapped = [{**p, "chunks": [{**c, "lines": []} for c in p["chunks"]]} for p in programs]
    assert locate(unmapped, reply) != reply["where"]


def test_check_shows_the_same_place(sandbox, key):
    text = check(LOCATED / "notebook", sandbox, key).text()
    assert "(at hw4.ipynb cell 9, line 12: loss = info_nce(z1, z2, tau); hw4.ipynb cell 5, line 9: " \
           "return F.cross_entropy(logits, labels); inside torch)" in text
    assert "(at hw4.ipynb cell 7, line 12: loss = F.mse_loss(" in text
    assert "simgrade-runner" not in text and "/sandbox" not in text


# ------------------------------------------------------------------------------------ the maps themselves
def _unit_lines(folder: Path, place: str) -> list[str]:
    """The lines of ``place`` (``hw4.ipynb cell 5`` or ``similarity.py``) as the student sees them."""
    path, _, cell = place.partition(" cell ")
    text = (folder / path).read_text(encoding="utf-8")
    if cell:
        text = nbformat.reads(text, as_version=4).cells[int(cell) - 1].source
    return text.split("\n")


@pytest.mark.parametrize("folder", [LOCATED / "notebook", LOCATED / "export", LOCATED / "handout",
                                    HERE / "fixtures" / "samples" / "homework_notebook", HERE / "corpus" / "course_export",
                                    HERE / "corpus" / "helper_function", HERE / "corpus" / "criterion"])
def test_every_mapped_line_is_the_students_line(folder):
    submission = discover(folder, SPECS, preferred_file="similarity.py")
    assert submission.programs
    for program in submission.programs.values():
        for chunk in program.chunks:
            assert chunk.place and chunk.place.split(" cell ")[0] in submission.files, chunk.label
            theirs = _unit_lines(folder, chunk.place)
            ours = chunk.source.split("\n")
            for generated, line in chunk.lines.items():
                assert ours[generated - 1].strip() == theirs[line - 1].strip(), (chunk.label, generated, line)
            if chunk.kind == "wrapper":  # the grader's own lines (def, device, return) are not mapped
                assert 1 not in chunk.lines and len(ours) - 1 not in chunk.lines


def _notebook(folder: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip("\n"), id=f"c{i}") for i, c in enumerate(cells)]
    folder.mkdir()
    (folder / "hw.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
    return folder


def test_locals_of_the_trainer_and_lines_sharing_a_line_are_mapped(tmp_path):
    """A local and a helper the lines take from the training function keep their lines; statements that share a line
    with one that is not theirs (``loss.backward()``) are unparsed apart in the wrapper, and all map to it."""
    folder = _notebook(tmp_path / "nb", ["import torch", """
        def train_contrastive(transforms, latent_dim, *, tau=0.07):
            criterion = torch.nn.CrossEntropyLoss(
                reduction="mean",
            )

            def logits_of(a, b):
                return a @ b.T / tau

            for batch1, batch2 in loader:
                batch1 = batch1.to(device)
                z1 = enc(batch1); z2 = enc(batch2); loss = criterion(logits_of(z1, z2), torch.arange(len(z1))); loss.backward()
        """])
    (program,) = discover(folder, SPECS[1:]).programs.values()
    wrapper = program.chunks[-1]
    source = wrapper.source.split("\n")
    assert wrapper.place == "hw.ipynb cell 2"
    mapped = {source[g - 1].strip(): line for g, line in wrapper.lines.items()}
    assert mapped["criterion = torch.nn.CrossEntropyLoss("] == 2 and mapped['reduction="mean",'] == 3
    assert mapped["return a @ b.T / tau"] == 7
    assert [line for text, line in mapped.items() if text.startswith(("z1 =", "z2 =", "loss ="))] == [11, 11, 11]
    assert "loss.backward()" not in wrapper.source


# ------------------------------------------------------------------------------------ untrusted numbers
def test_locate_shows_only_what_the_grader_sent():
    chunk = {"source": "\n\ndef f(x):\n    return x / 0\n", "place": "hw.ipynb cell 3", "lines": [[3, 3], [4, 4]]}
    wrapper = {"source": "def g(a):\n    y = f(a)\n    return loss\n", "place": "hw.ipynb cell 8", "lines": [[2, 14]]}
    programs = [{"chunks": [chunk, wrapper]}]
    assert locate(programs, {"frames": [[0, 1, 2], [0, 0, 4]], "inside": ""}) == \
        "hw.ipynb cell 8, line 14: y = f(a); hw.ipynb cell 3, line 4: return x / 0"
    assert locate(programs, {"frames": [[0, 1, 3]]}) == "hw.ipynb cell 8: return loss (a line the grader adds after yours)"
    # forged frames point nowhere: dropped; a package name that is a path or text is not shown
    forged = {"frames": [[1, 0, 1], [0, 5, 1], [0, 0, 99], [0, 0, -1], ["0", 0, 1], [0, 0]],
              "inside": "/tmp/simgrade-runner-1-0/submission/x.py"}
    assert locate(programs, forged) == ""
    assert locate(programs, {"frames": [], "inside": "torch"}) == "inside torch"
    assert locate(programs, {"inside": "torch\n[ok] 7b.1"}) == ""
