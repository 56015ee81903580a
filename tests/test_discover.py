"""Discovery: submission folder -> programs to run, by parsing only (simgrade/discover/).

The extracted chunks are executed here, in the test process, only to check that they define
working functions; the grader itself never does that outside the sandbox.
"""
from __future__ import annotations

import json
import os
import shutil
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from simgrade.discover import (
    MAX_ANSWERS_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    Chunk,
    Program,
    FunctionSpec,
    Submission,
)
from simgrade.discover import discover as _discover

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "samples"  # the five sample submissions
CORPUS = Path(__file__).resolve().parent / "corpus"
FUNCTIONS = ("autoencoder_loss", "contrastive_loss")
AUTOENCODER = FunctionSpec("autoencoder_loss", ("enc", "dec", "batch"), "train_autoencoder", ("batch",),
                           assigns="loss", bound=("device",))
CONTRASTIVE = FunctionSpec("contrastive_loss", ("enc", "batch1", "batch2", "tau"), "train_contrastive", ("batch1", "batch2"),
                           assigns="loss", bound=("device",))
SPECS = (AUTOENCODER, CONTRASTIVE)
HANDOUT_FILE = "similarity.py"
"""answers/key.toml's [meta] handout_file: searched first."""


def discover(folder, specs, preferred_file=HANDOUT_FILE) -> Submission:
    """Discovery as the grader runs it for this homework (the handout's module searched first)."""
    return _discover(folder, specs, preferred_file=preferred_file)


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def notebook(folder: Path, name: str, cells: list) -> Path:
    """Write a v4 notebook; a cell is code text, or ("md", text) for markdown."""
    nb = nbformat.v4.new_notebook()
    for cell in cells:
        if isinstance(cell, tuple):
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(cell).strip("\n")))
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb))
    return path


def load(program: Program, strict: bool = True):
    """Run the chunks like the sandbox does (each on its own, failures skipped); return the function."""
    ns: dict = {"__name__": "student", "device": torch.device("cpu")}
    failed = []
    for chunk in program.chunks:
        assert chunk.kind in ("import", "def", "class", "assign", "wrapper")
        try:
            exec(compile(chunk.source, chunk.label, "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - the sandbox skips a failing chunk
            failed.append((chunk.label, exc))
    if strict:
        assert not failed, failed
    return ns[program.function]


def all_source(sub: Submission) -> str:
    return "\n".join(c.source for p in sub.programs.values() for c in p.chunks)


torch.manual_seed(0)
W = torch.randn(12, 5, dtype=torch.float64)
V = torch.randn(5, 12, dtype=torch.float64)


def enc(x):
    return F.normalize(x.flatten(1) @ W, dim=1)


def dec(z):
    return (z @ V).view(-1, 3, 2, 2)


B1 = torch.randn(4, 3, 2, 2, dtype=torch.float64)
B2 = torch.randn(4, 3, 2, 2, dtype=torch.float64)
TAU = 0.5


def ref_ae(batch=B1):
    return F.mse_loss(dec(enc(batch)), batch)


def ref_contrastive(b1=B1, b2=B2, tau=TAU):
    logits = enc(b1) @ enc(b2).T / tau
    return F.cross_entropy(logits, torch.arange(len(b1)))


def check_correct(sub: Submission, functions=FUNCTIONS) -> None:
    """Both functions found and equal to the reference on tiny inputs."""
    for name in functions:
        assert name in sub.programs, sub.notes
    if "autoencoder_loss" in functions:
        got = load(sub.programs["autoencoder_loss"])(enc, dec, B1)
        torch.testing.assert_close(got, ref_ae())
    if "contrastive_loss" in functions:
        got = load(sub.programs["contrastive_loss"])(enc, B1, B2, TAU)
        torch.testing.assert_close(got, ref_contrastive())


def copy_sample(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(SAMPLES / name, dest)
    return dest


# ----------------------------------------------------------------------------------------
# the sample submissions (tests/fixtures/samples/)
# ----------------------------------------------------------------------------------------


def test_sample_correct():
    sub = discover(SAMPLES / "correct", SPECS)
    check_correct(sub)
    for name in FUNCTIONS:
        program = sub.programs[name]
        assert program.form == "handout" and program.origin == "similarity.py"
        assert program.chunks[-1].kind == "def" and f"def {name}" in program.chunks[-1].source
        start = 5 if name == "autoencoder_loss" else 10  # line numbers kept: the sandbox's inspect.getsource reads the file
        assert program.chunks[-1].source.splitlines()[start - 1].startswith(f"def {name}(")
        assert program.chunks[-1].place == "similarity.py" and program.chunks[-1].lines[start] == start
        assert program.student_source.startswith(f"def {name}(")
    assert sub.answers_toml == (SAMPLES / "correct" / "answers.toml").read_bytes()
    assert set(sub.files) == {"answers.toml", "similarity.py"}
    assert sub.files["similarity.py"] == (SAMPLES / "correct" / "similarity.py").read_bytes()
    assert any("similarity.py" in n and "handout" in n for n in sub.notes)
    assert set(sub.fingerprints) == set(FUNCTIONS)


@pytest.mark.parametrize("sample", ["missing_temperature", "sum_reduction"])
def test_samples_with_slips_are_found(sample):
    sub = discover(SAMPLES / sample, SPECS)
    assert set(sub.programs) == set(FUNCTIONS)
    assert sub.answers_toml is None
    ae = load(sub.programs["autoencoder_loss"])(enc, dec, B1)
    con = load(sub.programs["contrastive_loss"])(enc, B1, B2, TAU)
    if sample == "missing_temperature":
        torch.testing.assert_close(ae, ref_ae())
        assert not torch.allclose(con, ref_contrastive())
    else:
        torch.testing.assert_close(con, ref_contrastive())
        torch.testing.assert_close(ae, ((dec(enc(B1)) - B1) ** 2).sum())


def test_sample_slips_fingerprints_differ_from_correct():
    correct = discover(SAMPLES / "correct", SPECS).fingerprints
    missing = discover(SAMPLES / "missing_temperature", SPECS).fingerprints
    summed = discover(SAMPLES / "sum_reduction", SPECS).fingerprints
    assert correct["autoencoder_loss"] == missing["autoencoder_loss"]
    assert correct["contrastive_loss"] != missing["contrastive_loss"]
    assert correct["contrastive_loss"] == summed["contrastive_loss"]
    assert correct["autoencoder_loss"] != summed["autoencoder_loss"]


def test_sample_hostile_module_level_loop_is_never_taken(tmp_path):
    folder = copy_sample("hostile", tmp_path)
    sub = discover(folder, SPECS)
    assert set(sub.programs) == set(FUNCTIONS)
    code = all_source(sub)
    assert "results.json" not in code and "json.dump" not in code and "for folder" not in code
    for program in sub.programs.values():
        assert [c.kind for c in program.chunks if c.kind != "import"] == ["def"]
        assert all("import json" not in c.source and "import os" not in c.source for c in program.chunks)
    assert not (folder / "results.json").exists()  # parsing ran nothing
    assert load(sub.programs["autoencoder_loss"])(enc, dec, B1).requires_grad


def test_sample_homework_notebook():
    sub = discover(SAMPLES / "homework_notebook", SPECS)
    check_correct(sub)
    code = all_source(sub)
    for forbidden in ("pip", "cuda", "np.load", "train_autoencoder(128)", "train_contrastive(aug_A",
                      "assert", "tqdm", "optim", "zero_grad", "backward"):
        assert forbidden not in code, forbidden
    ae, con = sub.programs["autoencoder_loss"], sub.programs["contrastive_loss"]
    assert ae.form == con.form == "course" and ae.origin == "hw4.ipynb"
    assert ae.student_source == "recon = dec(enc(batch))\nloss = F.mse_loss(batch, recon)\n"
    assert con.student_source.splitlines() == [
        "sim = enc(batch1) @ enc(batch2).T / tau",
        "labels = torch.arange(sim.shape[0]).to(device)",
        "loss = nn.CrossEntropyLoss()(sim, labels)",
    ]
    wrapper = ae.chunks[-1]
    assert wrapper.kind == "wrapper"
    assert wrapper.source.startswith("def autoencoder_loss(enc, dec, batch):\n    device = batch.device\n")
    # each of the student's lines is mapped to its line in the cell (cell 5, lines 10-11), for tracebacks
    assert wrapper.source.splitlines()[2:4] == ["    recon = dec(enc(batch))", "    loss = F.mse_loss(batch, recon)"]
    assert wrapper.place == "hw4.ipynb cell 5" and wrapper.lines == {3: 10, 4: 11}
    assert wrapper.source.rstrip().endswith("return loss")
    assert "hw4.ipynb cell 5, lines 10–11" in wrapper.label
    assert "hw4.ipynb cell 7, lines 11–13" in con.chunks[-1].label
    assert any("! and %" in n for n in sub.notes)


# ----------------------------------------------------------------------------------------
# course form
# ----------------------------------------------------------------------------------------


def test_py_export_of_the_notebook():
    sub = discover(CORPUS / "course_export", SPECS)
    check_correct(sub)
    assert {p.form for p in sub.programs.values()} == {"course"}
    code = all_source(sub)
    assert "get_ipython" not in code and "cuda" not in code and "np.load" not in code
    assert "hw4.py, lines 70–74" in sub.programs["contrastive_loss"].chunks[-1].label


def test_export_and_notebook_give_same_autoencoder_fingerprint():
    a = discover(CORPUS / "course_export", SPECS).fingerprints
    b = discover(SAMPLES / "homework_notebook", SPECS).fingerprints
    assert a["autoencoder_loss"] == b["autoencoder_loss"]


TRAINER_HEAD = """
import torch
from torch import nn
import torch.nn.functional as F
from tqdm import tqdm

device = torch.device('cuda:0')
"""


@pytest.mark.parametrize("body", [
    # zero_grad before the batches are moved, nested epoch loops, enumerate with a tuple target
    """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        for epoch in range(15):
            for i, (batch1, batch2) in enumerate(tqdm(dataloader)):
                optim.zero_grad()
                batch1 = batch1.to(device)
                batch2 = batch2.to(device)
                logits = enc(batch1) @ enc(batch2).T / tau
                loss = F.cross_entropy(logits, torch.arange(len(logits), device=device))
                loss.backward()
                optim.step()
                if i % 100 == 0:
                    print(loss.item())
    """,
    # a loss criterion and a helper made before the loop, logging after the loss, one-line batch move
    """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        def targets(n):
            return torch.arange(n)

        criterion = nn.CrossEntropyLoss()
        losses = []
        for epoch in range(15):
            for batch1, batch2 in tqdm(dataloader):
                batch1, batch2 = batch1.to(device), batch2.to(device)
                z1, z2 = enc(batch1), enc(batch2)
                loss = criterion(z1 @ z2.T / tau, targets(z1.shape[0]).to(device))
                losses.append(loss.item())
                optim.zero_grad()
                loss.backward()
                optim.step()
        return enc
    """,
    # statements sharing a line with the step calls; a while loop
    """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        it = iter(dataloader)
        while True:
            batch1, batch2 = next(it); batch1 = batch1.to(device); batch2 = batch2.to(device)
            s = torch.einsum('id,jd->ij', enc(batch1), enc(batch2)) / tau; loss = F.cross_entropy(s, torch.arange(s.shape[0])); optim.zero_grad()
            loss.backward(); optim.step()
    """,
    # gradient accumulation: the step sits in an if block
    """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        for epoch in range(15):
            for step, (batch1, batch2) in enumerate(dataloader):
                batch1 = batch1.to(device)
                batch2 = batch2.to(device)
                # FIXME
                logits = enc(batch1) @ enc(batch2).T
                logits = logits / tau
                loss = F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))
                loss.backward()
                if step % 4 == 3:
                    optim.step()
                    optim.zero_grad()
            scheduler.step()
    """,
])
def test_course_loop_variants(tmp_path, body):
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent(body))
    sub = discover(tmp_path, (CONTRASTIVE,))
    program = sub.programs["contrastive_loss"]
    assert program.form == "course", sub.notes
    assert "zero_grad" not in program.chunks[-1].source and "backward" not in program.chunks[-1].source
    torch.testing.assert_close(load(program)(enc, B1, B2, TAU), ref_contrastive())


def test_course_lines_after_loss_are_not_graded(tmp_path):
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent("""
    def train_autoencoder(latent_dim):
        for epoch in range(30):
            for batch, in dataloader:
                batch = batch.to(device)
                loss = F.mse_loss(dec(enc(batch)), batch)
                pbar.set_description(f"{loss.item():.3f}")
                running += loss.item()
                optim.zero_grad()
                loss.backward()
                optim.step()
    """))
    sub = discover(tmp_path, (AUTOENCODER,))
    program = sub.programs["autoencoder_loss"]
    assert "pbar" not in program.chunks[-1].source and "running" not in program.chunks[-1].source
    assert any("not graded" in n and "pbar" in n for n in sub.notes)
    torch.testing.assert_close(load(program)(enc, dec, B1), ref_ae())


def test_course_empty_fixme(tmp_path):
    notebook(tmp_path, "hw4.ipynb", [TRAINER_HEAD, """
    def train_autoencoder(latent_dim: int):
        for epoch in range(30):
            for batch, in dataloader:
                batch = batch.to(device)
                # FIXME

                optim.zero_grad()
                loss.backward()
                optim.step()
    """, """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        for epoch in range(15):
            for batch1, batch2 in dataloader:
                batch1 = batch1.to(device)
                batch2 = batch2.to(device)
                pass  # FIXME
                optim.zero_grad()
                loss.backward()
                optim.step()
    """])
    sub = discover(tmp_path, SPECS)
    for name in FUNCTIONS:
        program = sub.programs[name]
        assert program.form == "course" and [c.kind for c in program.chunks] == ["wrapper"]
        fn = load(program)
        with pytest.raises(NotImplementedError, match="the FIXME lines are empty"):
            fn(enc, dec, B1) if name == "autoencoder_loss" else fn(enc, B1, B2, TAU)
        assert program.student_source == ""
    assert sub.fingerprints["autoencoder_loss"] == sub.fingerprints["contrastive_loss"]


def test_course_lines_that_never_assign_loss(tmp_path):
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent("""
    def train_autoencoder(latent_dim):
        for epoch in range(30):
            for batch, in dataloader:
                batch = batch.to(device)
                recon = dec(enc(batch))
                l = F.mse_loss(recon, batch)
                optim.zero_grad()
                l.backward()
                optim.step()
    """))
    sub = discover(tmp_path, (AUTOENCODER,))
    program = sub.programs["autoencoder_loss"]
    assert "l = F.mse_loss(recon, batch)" in program.student_source
    with pytest.raises(NotImplementedError, match="never assign loss"):
        load(program)(enc, dec, B1)


def test_course_continue_in_the_lines(tmp_path):
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent("""
    def train_autoencoder(latent_dim):
        for batch, in dataloader:
            batch = batch.to(device)
            if batch.shape[0] < 256:
                continue
            loss = F.mse_loss(dec(enc(batch)), batch)
            optim.zero_grad()
            loss.backward()
    """))
    sub = discover(tmp_path, (AUTOENCODER,))
    with pytest.raises(NotImplementedError, match="continue"):
        load(sub.programs["autoencoder_loss"])(enc, dec, B1)


def test_course_lines_use_helpers_and_module_constants(tmp_path):
    notebook(tmp_path, "hw4.ipynb", [
        ("md", "# HW4"),
        "!pip install einops\n%matplotlib inline",
        TRAINER_HEAD,
        """
        TEMPERATURE_SCALE = 1.0
        criterion = nn.CrossEntropyLoss()

        def similarity(a, b):
            return a @ b.T
        """,
        "data = np.load('/content/data.npy')",
        """
        def train_contrastive(transforms, latent_dim, *, tau=0.07):
            for batch1, batch2 in tqdm(dataloader):
                batch1 = batch1.to(device)
                batch2 = batch2.to(device)
                logits = similarity(enc(batch1), enc(batch2)) / (tau * TEMPERATURE_SCALE)
                loss = criterion(logits, torch.arange(logits.shape[0]).to(device))
                optim.zero_grad()
                loss.backward()
                optim.step()
        """,
        "enc_A = train_contrastive(aug_A, 128)",
    ])
    sub = discover(tmp_path, (CONTRASTIVE,))
    program = sub.programs["contrastive_loss"]
    labels = [c.label for c in program.chunks]
    assert any(label.startswith("def similarity (hw4.ipynb cell 4") for label in labels), labels
    assert any(label.startswith("criterion = nn.CrossEntropyLoss()") for label in labels), labels
    assert "np.load" not in all_source(sub) and "enc_A" not in all_source(sub)
    torch.testing.assert_close(load(program)(enc, B1, B2, TAU), ref_contrastive())


def test_course_fingerprint_ignores_local_names_and_comments(tmp_path):
    loops = {
        "a": """
            z1 = enc(batch1)  # first view
            z2 = enc(batch2)
            logits = z1 @ z2.T / tau
            loss = F.cross_entropy(logits, torch.arange(logits.shape[0], device=device))
        """,
        "b": """
            # the two views
            u = enc(batch1)
            v = enc(batch2)

            s = u @ v.T / tau
            loss = F.cross_entropy(s, torch.arange(s.shape[0], device=device))
        """,
        "c": """
            u = enc(batch1)
            v = enc(batch2)
            s = u @ v.T
            loss = F.cross_entropy(s, torch.arange(s.shape[0], device=device))
        """,
    }
    prints = {}
    for key, lines in loops.items():
        folder = tmp_path / key
        body = textwrap.indent(textwrap.dedent(lines).strip("\n"), " " * 8)
        write(folder, "hw.py", TRAINER_HEAD + "\ndef train_contrastive(transforms, latent_dim, *, tau=0.07):\n"
              "    for batch1, batch2 in dataloader:\n        batch1 = batch1.to(device)\n"
              "        batch2 = batch2.to(device)\n" + body + "\n        optim.zero_grad()\n"
              "        loss.backward()\n")
        sub = discover(folder, (CONTRASTIVE,))
        prints[key] = sub.fingerprints["contrastive_loss"]
    assert prints["a"] == prints["b"]
    assert prints["a"] != prints["c"]


# ----------------------------------------------------------------------------------------
# handout form, odd layouts
# ----------------------------------------------------------------------------------------


def test_notebook_with_handout_functions(tmp_path):
    notebook(tmp_path, "my_solution.ipynb", [
        ("md", "Solutions"),
        "%%bash\necho hi",
        "!pip install -q einops\nimport torch\nimport torch.nn.functional as F\n%matplotlib inline",
        "assert torch.cuda.is_available()\ndevice = 'cuda'",
        """
        def autoencoder_loss(enc, dec, batch):
            return F.mse_loss(dec(enc(batch)), batch)
        """,
        """
        %%time
        def contrastive_loss(enc, batch1, batch2, tau):
            logits = enc(batch1) @ enc(batch2).T / tau
            return F.cross_entropy(logits, torch.arange(logits.shape[0]))
        """,
        "contrastive_loss(enc, x, y, 0.07)",
    ])
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert {p.form for p in sub.programs.values()} == {"handout"}
    assert any("%%bash" in n for n in sub.notes)
    assert "cuda" not in all_source(sub) and "echo" not in all_source(sub)
    assert sub.programs["contrastive_loss"].origin == "my_solution.ipynb"
    assert "my_solution.ipynb cell 6" in sub.programs["contrastive_loss"].chunks[-1].label


def test_helper_functions_and_constants(tmp_path):
    sub = discover(CORPUS / "helper_function", SPECS)
    check_correct(sub)
    ae = [c.label for c in sub.programs["autoencoder_loss"].chunks]
    assert any(lbl.startswith("def reconstruction_error") for lbl in ae)
    assert any(lbl.startswith("SCALE = 1.0 / 1.0") for lbl in ae)
    code = all_source(sub)
    assert "unused_helper" not in code and "EPS" not in code and "training..." not in code
    assert "10**9" not in code


def test_module_level_criterion_and_library_aliases():
    sub = discover(CORPUS / "criterion", SPECS)
    check_correct(sub)
    kinds = {c.label.split(" ")[0]: c.kind for c in sub.programs["contrastive_loss"].chunks}
    assert kinds["criterion"] == "assign" and kinds["F"] == "assign" and kinds["TAU_FLOOR,"] == "assign"
    assert "never_used" not in all_source(sub)


def test_device_assignment_is_never_taken():
    sub = discover(CORPUS / "device_global", SPECS)
    code = all_source(sub)
    assert "cuda" not in code and "device =" not in code
    assert any("grader binds `device`" in n for n in sub.notes)
    check_correct(sub)  # load() binds device to the CPU, as the sandbox does
    assert all(p.bound == ("device",) for p in sub.programs.values())  # carried to the sandbox's load message


def test_course_conventions_come_from_the_spec(tmp_path):
    """The training function, the assigned name and the grader-bound names are the spec's, not built in."""
    write(tmp_path, "course.py", """
        import torch
        import torch.nn.functional as F
        dev = torch.device('cuda:0')
        device = 'kept: not bound by this spec'

        def fit(enc, dec, data):
            for x in data:
                x = x.to(dev)
                tag = device
                err = F.mse_loss(dec(enc(x)), x.to(dev))
                print(tag)
                err.backward()
    """)
    spec = FunctionSpec("recon_error", ("enc", "dec", "x"), "fit", ("x",), assigns="err", bound=("dev",))
    sub = discover(tmp_path, (spec,))
    program = sub.programs["recon_error"]
    assert program.form == "course" and program.bound == ("dev",)
    wrapper = program.chunks[-1].source.lstrip("\n")
    assert wrapper.startswith("def recon_error(enc, dec, x):\n    dev = x.device\n")
    assert wrapper.rstrip().endswith("return err")
    code = all_source(sub)
    assert "cuda" not in code  # the wrapper binds dev itself
    assert "device = 'kept: not bound by this spec'" in code  # `device` is nothing special to discovery
    assert any("print(tag)" in n and "after err is computed" in n for n in sub.notes)
    torch.testing.assert_close(load(program)(enc, dec, B1), ref_ae())
    # handout form: the module-level assignment to a bound name is never taken either
    write(tmp_path / "handout", "kit.py", """
        import torch.nn.functional as F
        dev = torch.device('cuda:0')

        def recon_error(enc, dec, x):
            return F.mse_loss(dec(enc(x)), x.to(dev))
    """)
    sub = discover(tmp_path / "handout", (spec,))
    assert sub.programs["recon_error"].form == "handout" and sub.programs["recon_error"].bound == ("dev",)
    assert "cuda" not in all_source(sub) and any("the grader binds `dev`" in n for n in sub.notes)
    with pytest.raises(ValueError, match="assign"):
        FunctionSpec("recon_error", ("enc", "dec", "x"), "fit", ("x",))


def test_unsafe_assignments_are_skipped_with_notes():
    sub = discover(CORPUS / "unsafe_assign", SPECS)
    code = all_source(sub)
    for forbidden in ("np.load", "torch.load", "open(", "train_contrastive", "RuntimeError"):
        assert forbidden not in code, forbidden
    assert any("np.load" in n and "not taken" in n for n in sub.notes)
    assert any("train_contrastive" in n and "not taken" in n for n in sub.notes)
    assert any("`data`" in n and "does not define" in n for n in sub.notes)
    # TAU is rebound twice; both simple, so both are taken in order and the default is right
    torch.testing.assert_close(load(sub.programs["contrastive_loss"])(enc, B1, B2, TAU), ref_contrastive())
    assert load(sub.programs["contrastive_loss"]).__defaults__ == (0.07,)
    with pytest.raises(NameError):
        load(sub.programs["autoencoder_loss"])(enc, dec, B1)


def test_syntax_error_in_one_top_level_piece_of_a_py():
    sub = discover(CORPUS / "syntax_error_py", SPECS)
    check_correct(sub)
    assert any("similarity.py, line 9" in n and "syntax error" in n for n in sub.notes)


def test_syntax_error_in_one_cell_only(tmp_path):
    notebook(tmp_path, "hw.ipynb", [
        "import torch\nimport torch.nn.functional as F",
        "def autoencoder_loss(enc, dec, batch):\n    return F.mse_loss(dec(enc(batch)), batch)",
        "x = = 1\nprint('oops'",
        "def contrastive_loss(enc, batch1, batch2, tau):\n"
        "    logits = enc(batch1) @ enc(batch2).T / tau\n"
        "    return F.cross_entropy(logits, torch.arange(logits.shape[0]))",
    ])
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert any("hw.ipynb cell 3, line 1" in n and "syntax error" in n for n in sub.notes), sub.notes


def test_local_module_import_takes_definitions_not_the_file(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(CORPUS / "local_import", folder)
    sub = discover(folder, SPECS)
    check_correct(sub)
    code = all_source(sub)
    assert "results.json" not in code and "from helpers" not in code
    assert any("taken from helpers.py" in n for n in sub.notes)


def test_duplicate_definitions_across_files():
    sub = discover(CORPUS / "duplicates", (CONTRASTIVE,))
    program = sub.programs["contrastive_loss"]
    assert program.origin == "similarity.py"
    assert "the later definition wins" in program.student_source
    torch.testing.assert_close(load(program)(enc, B1, B2, TAU), ref_contrastive())
    assert any("defined in 3 files" in n and "using similarity.py" in n for n in sub.notes)


def test_handout_form_wins_over_course_form(tmp_path):
    write(tmp_path, "similarity.py", (SAMPLES / "missing_temperature" / "similarity.py").read_text())
    shutil.copy(SAMPLES / "homework_notebook" / "hw4.ipynb", tmp_path / "hw4.ipynb")
    sub = discover(tmp_path, SPECS)
    assert {p.form for p in sub.programs.values()} == {"handout"}


def test_preference_similarity_then_py_then_ipynb(tmp_path):
    notebook(tmp_path, "a.ipynb", ["def autoencoder_loss(enc, dec, batch):\n    return 1"])
    write(tmp_path, "z.py", "def autoencoder_loss(enc, dec, batch):\n    return 2\n")
    sub = discover(tmp_path, (AUTOENCODER,))
    assert sub.programs["autoencoder_loss"].origin == "z.py"
    write(tmp_path, "deep/similarity.py", "def autoencoder_loss(enc, dec, batch):\n    return 3\n")
    sub = discover(tmp_path, (AUTOENCODER,))
    assert sub.programs["autoencoder_loss"].origin == "deep/similarity.py"
    # the preferred name is the caller's (the key's [meta] handout_file), not built in
    assert discover(tmp_path, (AUTOENCODER,), preferred_file=None).programs["autoencoder_loss"].origin == "z.py"
    write(tmp_path, "mine.py", "def autoencoder_loss(enc, dec, batch):\n    return 4\n")
    assert discover(tmp_path, (AUTOENCODER,), preferred_file="mine.py").programs["autoencoder_loss"].origin == "mine.py"


def test_wrong_arity_is_noted(tmp_path):
    write(tmp_path, "similarity.py", """
    def contrastive_loss(enc, batch1, batch2):
        return 0
    def autoencoder_loss(enc, dec, batch, *, scale):
        return 0
    """)
    sub = discover(tmp_path, SPECS)
    assert any("contrastive_loss takes 3 positional parameters" in n for n in sub.notes), sub.notes
    assert any("autoencoder_loss" in n and "keyword-only scale" in n for n in sub.notes), sub.notes
    assert set(sub.programs) == set(FUNCTIONS)


def test_lambda_definition(tmp_path):
    write(tmp_path, "similarity.py", """
    import torch.nn.functional as F
    autoencoder_loss = lambda enc, dec, batch: F.mse_loss(dec(enc(batch)), batch)
    """)
    sub = discover(tmp_path, (AUTOENCODER,))
    check_correct(sub, functions=("autoencoder_loss",))


def test_imports_in_try_blocks_are_hoisted(tmp_path):
    notebook(tmp_path, "hw.ipynb", ["""
    try:
        import einops
    except ImportError:
        !pip install einops
        import einops
    import torch
    import torch.nn.functional as F
    """, """
    def contrastive_loss(enc, batch1, batch2, tau):
        logits = einops.einsum(enc(batch1), enc(batch2), 'i d, j d -> i j') / tau
        return F.cross_entropy(logits, torch.arange(logits.shape[0]))
    """])
    sub = discover(tmp_path, (CONTRASTIVE,))
    check_correct(sub, functions=("contrastive_loss",))
    assert "pip" not in all_source(sub)


def test_fingerprints_ignore_names_comments_and_docstrings(tmp_path):
    variants = {
        "a": """
        import torch
        import torch.nn.functional as F

        def contrastive_loss(enc, batch1, batch2, tau):
            logits = enc(batch1) @ enc(batch2).T / tau
            return F.cross_entropy(logits, torch.arange(logits.shape[0]))
        """,
        "b": '''
        import torch
        from torch.nn import functional as F

        def contrastive_loss(e, x, y, temperature):
            """InfoNCE with in-batch negatives."""
            # similarity matrix
            sim = e(x) @ e(y).T / temperature

            return F.cross_entropy(sim, torch.arange(sim.shape[0]))  # mean over rows
        ''',
        "c": """
        import torch
        import torch.nn.functional as F

        def contrastive_loss(enc, batch1, batch2, tau):
            logits = enc(batch1) @ enc(batch2).T * tau
            return F.cross_entropy(logits, torch.arange(logits.shape[0]))
        """,
    }
    prints = {}
    for key, text in variants.items():
        write(tmp_path / key, "similarity.py", text)
        prints[key] = discover(tmp_path / key, (CONTRASTIVE,)).fingerprints["contrastive_loss"]
    assert prints["a"] == prints["b"] != prints["c"]


def test_fingerprints_see_helper_code(tmp_path):
    for key, op in (("a", "/"), ("b", "*")):
        write(tmp_path / key, "similarity.py", f"""
        def helper(z1, z2, tau):
            return z1 @ z2.T {op} tau

        def contrastive_loss(enc, batch1, batch2, tau):
            return helper(enc(batch1), enc(batch2), tau)
        """)
    a = discover(tmp_path / "a", SPECS).fingerprints["contrastive_loss"]
    b = discover(tmp_path / "b", SPECS).fingerprints["contrastive_loss"]
    assert a != b


# ----------------------------------------------------------------------------------------
# the folder: files, answers.toml, limits, hostile input
# ----------------------------------------------------------------------------------------


def test_empty_folder(tmp_path):
    sub = discover(tmp_path, SPECS)
    assert sub.programs == {} and sub.files == {} and sub.answers_toml is None and sub.fingerprints == {}
    assert any("autoencoder_loss: not found" in n and "train_autoencoder" in n for n in sub.notes)
    assert any("contrastive_loss: not found" in n for n in sub.notes)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(NotADirectoryError):
        discover(tmp_path / "nope", SPECS)


def test_nested_folders():
    sub = discover(CORPUS / "nested", SPECS)
    assert sub.programs["autoencoder_loss"].origin == "hw/code/src/similarity.py"
    check_correct(sub, functions=("autoencoder_loss",))
    deep = discover(CORPUS / "too_deep", SPECS)
    assert deep.programs == {} and deep.files == {}
    assert any("folders deep" in n for n in deep.notes)


def test_binary_similarity_py(tmp_path):
    (tmp_path / "similarity.py").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 10)
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    sub = discover(tmp_path, SPECS)
    assert sub.programs == {}
    assert any(n.startswith("similarity.py: binary") for n in sub.notes)
    assert any(n.startswith("latin1.py: binary or not UTF-8") for n in sub.notes)
    assert "similarity.py" in sub.files  # still copied: the sandbox sees what the student handed in


def test_bom_and_crlf(tmp_path):
    text = (SAMPLES / "correct" / "similarity.py").read_text().replace("\n", "\r\n")
    (tmp_path / "similarity.py").write_bytes(b"\xef\xbb\xbf" + text.encode())
    check_correct(discover(tmp_path, SPECS))


def test_broken_notebooks(tmp_path):
    (tmp_path / "broken.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')
    (tmp_path / "deep.ipynb").write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "future.ipynb").write_text(json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": []}))
    (tmp_path / "nocells.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    (tmp_path / "missing_keys.ipynb").write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "x"}]}))

    def code(source):
        return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}

    (tmp_path / "weird.ipynb").write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [code(12), code(None), {"cell_type": "raw", "metadata": {}, "source": "x = ("},
                  code(["import torch.nn.functional as F\n", "def autoencoder_loss(enc, dec, batch):\n",
                        "    return F.mse_loss(dec(enc(batch)), batch)\n"])]}))
    (tmp_path / "v3.ipynb").write_text(json.dumps({
        "nbformat": 3, "nbformat_minor": 0, "metadata": {},
        "worksheets": [{"cells": [{"cell_type": "code", "language": "python", "outputs": [],
                                   "input": "def contrastive_loss(enc, batch1, batch2, tau):\n"
                                            "    import torch, torch.nn.functional as F\n"
                                            "    logits = enc(batch1) @ enc(batch2).T / tau\n"
                                            "    return F.cross_entropy(logits, torch.arange(len(logits)))\n"}]}]}))
    sub = discover(tmp_path, SPECS)
    assert any(n.startswith("broken.ipynb: not a notebook") for n in sub.notes), sub.notes
    assert any(n.startswith("deep.ipynb: not a notebook") for n in sub.notes), sub.notes
    assert any(n.startswith("future.ipynb: not a notebook") for n in sub.notes), sub.notes
    assert any(n.startswith("missing_keys.ipynb: not a notebook") for n in sub.notes), sub.notes
    assert any(n.startswith("weird.ipynb cell 1: no readable source") for n in sub.notes), sub.notes
    check_correct(sub)
    assert sub.programs["autoencoder_loss"].origin == "weird.ipynb"
    assert sub.programs["contrastive_loss"].origin == "v3.ipynb"


def test_deeply_nested_python_does_not_crash(tmp_path):
    (tmp_path / "a.py").write_text("x = " + "-" * 200000 + "1\n")
    (tmp_path / "b.py").write_text("x = " + "(" * 5000 + ")" * 5000 + "\n")
    (tmp_path / "c.py").write_text("def autoencoder_loss(enc, dec, batch):\n    return " + "+".join(["batch"] * 50000) + "\n")
    (tmp_path / "d.py").write_text("x = [" + "1," * 100000 + "]\n")  # a long single line
    started = time.monotonic()
    sub = discover(tmp_path, SPECS)
    assert time.monotonic() - started < 20
    assert "autoencoder_loss" in sub.programs or any("c.py" in n for n in sub.notes)


def test_huge_files_are_refused_without_reading(tmp_path):
    with open(tmp_path / "similarity.py", "wb") as f:
        f.truncate(10 * 1024 * 1024)  # sparse: 10 MB of NUL, never read
    (tmp_path / "big_line.py").write_text("x = 1 # " + "a" * (MAX_FILE_BYTES + 10) + "\n")
    write(tmp_path, "ok.py", (SAMPLES / "correct" / "similarity.py").read_text())
    sub = discover(tmp_path, SPECS)
    assert set(sub.files) == {"ok.py"}
    assert any(n.startswith("similarity.py: larger than 2 MiB") for n in sub.notes)
    assert any(n.startswith("big_line.py: larger than 2 MiB") for n in sub.notes)
    check_correct(sub)


def test_file_count_and_total_limits(tmp_path):
    for i in range(MAX_FILES + 20):
        (tmp_path / f"data_{i:04d}.txt").write_text("x")
    write(tmp_path, "zz_similarity.py", (SAMPLES / "correct" / "similarity.py").read_text())
    sub = discover(tmp_path, SPECS)
    assert len(sub.files) == MAX_FILES
    assert "zz_similarity.py" in sub.files  # code is copied first
    assert any(f"more than {MAX_FILES} files" in n for n in sub.notes)
    check_correct(sub)


def test_total_size_limit(tmp_path):
    blob = b"0" * (MAX_FILE_BYTES - 100)
    for i in range(9):
        (tmp_path / f"blob_{i}.bin").write_bytes(blob)
    sub = discover(tmp_path, SPECS)
    assert sum(map(len, sub.files.values())) <= 16 * 1024 * 1024
    assert len(sub.files) == 8
    assert any("over 16 MiB" in n for n in sub.notes)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinks_out_of_the_folder_are_refused(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(SAMPLES / "correct", folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("def contrastive_loss(enc, batch1, batch2, tau):\n    return 0\n")
    os.symlink("/etc/passwd", folder / "passwd.txt")
    os.symlink(outside, folder / "outdir")
    os.symlink("../outside/secret.py", folder / "zzz.py")
    os.symlink("similarity.py", folder / "alias.py")  # inside: fine
    os.symlink(folder, folder / "loop")  # a folder inside: not followed
    os.symlink("/nonexistent/target", folder / "broken.py")
    sub = discover(folder, SPECS)
    assert "passwd.txt" not in sub.files and "zzz.py" not in sub.files
    assert not any(k.startswith("outdir") or k.startswith("loop") for k in sub.files)
    assert sub.files["alias.py"] == sub.files["similarity.py"]
    for name in ("passwd.txt", "outdir", "zzz.py"):
        assert any(n.startswith(f"{name}: a symlink that leads out") for n in sub.notes), name
    check_correct(sub)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_is_skipped_without_hanging(tmp_path):
    shutil.copytree(SAMPLES / "correct", tmp_path / "s")
    os.mkfifo(tmp_path / "s" / "answers.toml.fifo")
    os.mkfifo(tmp_path / "s" / "similarity2.py")
    started = time.monotonic()
    sub = discover(tmp_path / "s", SPECS)
    assert time.monotonic() - started < 10
    assert "similarity2.py" not in sub.files
    assert any(n.startswith("similarity2.py: not a regular file") for n in sub.notes)
    check_correct(sub)


def test_answers_toml_rules(tmp_path):
    one = tmp_path / "one"
    write(one, "hw/answers.toml", "[q5]\na = 'no'\n")
    assert discover(one, SPECS).answers_toml == b"[q5]\na = 'no'\n"

    two = tmp_path / "two"
    write(two, "a/answers.toml", "[q5]\n")
    write(two, "b/answers.toml", "[q6]\n")
    sub = discover(two, SPECS)
    assert sub.answers_toml is None and any("none used" in n for n in sub.notes)

    top = tmp_path / "top"
    write(top, "answers.toml", "[q1]\n")
    write(top, "old/answers.toml", "[q6]\n")
    assert discover(top, SPECS).answers_toml == b"[q1]\n"

    big = tmp_path / "big"
    big.mkdir()
    (big / "answers.toml").write_bytes(b"# " + b"x" * MAX_ANSWERS_BYTES + b"\n")
    sub = discover(big, SPECS)
    assert sub.answers_toml is None and any("answers.toml: larger than 64 KiB" in n for n in sub.notes)


def test_skipped_folders_and_checkpoints(tmp_path):
    write(tmp_path, ".git/config", "[core]\n")
    write(tmp_path, "__pycache__/x.py", "def autoencoder_loss(enc, dec, batch): return 1\n")
    write(tmp_path, ".ipynb_checkpoints/old-checkpoint.py", "def autoencoder_loss(enc, dec, batch): return 2\n")
    sub = discover(tmp_path, (AUTOENCODER,))
    assert not any(k.startswith(".git/") or k.startswith("__pycache__/") for k in sub.files)
    assert ".ipynb_checkpoints/old-checkpoint.py" in sub.files
    assert sub.programs == {}


def test_notes_are_single_lines(tmp_path):
    (tmp_path / "evil\u202ename.py").write_text("def f(:\n")
    notebook(tmp_path, "n.ipynb", ["x = (\n\n\n"])
    sub = discover(tmp_path, SPECS)
    assert sub.notes and all("\n" not in n and "\u202e" not in n for n in sub.notes)


def test_discovery_is_deterministic():
    a = discover(SAMPLES / "homework_notebook", SPECS)
    b = discover(SAMPLES / "homework_notebook", SPECS)
    assert a == b


def test_result_types():
    sub = discover(SAMPLES / "correct", SPECS)
    assert isinstance(sub, Submission)
    for program in sub.programs.values():
        assert isinstance(program, Program)
        assert all(isinstance(c, Chunk) for c in program.chunks)


def test_raw_ipython_lines_in_a_py_and_star_import_of_own_module(tmp_path):
    write(tmp_path, "helpers.py", """
    import torch
    import torch.nn.functional as F
    print("helpers imported")  # never runs

    def info_nce(z1, z2, tau):
        return F.cross_entropy(z1 @ z2.T / tau, torch.arange(z1.shape[0]))
    """)
    write(tmp_path, "solution.py", """
    !pip install einops
    %load_ext autoreload
    from helpers import *
    import helpers

    def contrastive_loss(enc, batch1, batch2, tau):
        return info_nce(enc(batch1), enc(batch2), tau)

    def autoencoder_loss(enc, dec, batch):
        return helpers.mse(dec(enc(batch)), batch)
    """)
    sub = discover(tmp_path, SPECS)
    assert any("solution.py: IPython ! and % lines ignored" in n for n in sub.notes), sub.notes
    check_correct(sub, functions=("contrastive_loss",))
    code = all_source(sub)
    assert "helpers imported" not in code and "import helpers" not in code and "from helpers" not in code
    assert any("own module as a whole" in n for n in sub.notes), sub.notes


# ----------------------------------------------------------------------------------------
# hostile folders: hard links, special files, huge sources, names
# ----------------------------------------------------------------------------------------

HANDOUT_FORM = """
import torch
import torch.nn.functional as F

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))
"""


def test_hard_links_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.toml").write_text("[q5]\na = 'the key'\n")
    (outside / "reference.py").write_text(HANDOUT_FORM)
    folder = tmp_path / "sub"
    write(folder, "similarity.py", HANDOUT_FORM)
    os.link(outside / "key.toml", folder / "answers.toml")
    os.link(outside / "reference.py", folder / "zz_reference.py")
    sub = discover(folder, SPECS)
    assert sub.answers_toml is None and set(sub.files) == {"similarity.py"}
    assert "answers.toml: a hard link (one file with 2 names); refused" in sub.notes
    assert "zz_reference.py: a hard link (one file with 2 names); refused" in sub.notes
    check_correct(sub)


def test_sockets_are_skipped(tmp_path):
    import socket

    write(tmp_path, "similarity.py", HANDOUT_FORM)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "listen.py"))
        sub = discover(tmp_path, SPECS)
    assert "listen.py" not in sub.files
    assert any(n.startswith("listen.py: not a regular file") for n in sub.notes)
    check_correct(sub)


def test_names_with_controls_are_escaped_in_notes(tmp_path):
    write(tmp_path, "similarity.py", HANDOUT_FORM)
    write(tmp_path, "evil\x1b[2J\u202e.py", "x = 1\n")
    write(tmp_path, "bidi\u202e\u2066.py", "def broken(:\n")
    notes = "\n".join(discover(tmp_path, SPECS).notes)
    assert "\\x1b[2J" in notes and "bidi\\u202e\\u2066.py, line 1: syntax error" in notes
    assert not any(c in notes for c in "\x1b\u202e\u2066\r")


def test_broken_file_keeps_every_piece_that_parses(tmp_path):
    pieces = [f"v{i} = {i}\n" for i in range(40)]
    pieces[7] = "v7 = (\n"  # unclosed: the pieces after it still count
    pieces[30] = "def broken(:\n    pass\n"
    write(tmp_path, "similarity.py", HANDOUT_FORM + "".join(pieces) + "def tail(:\n")
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    first = len(HANDOUT_FORM.lstrip("\n").splitlines()) + 1  # the line of v0 (the last piece ends with the file)
    assert f"similarity.py: lines {first + 7}, {first + 30}–{first + 31}, {first + 41}–{first + 42} do not parse; skipped" in sub.notes
    assert sub.programs["contrastive_loss"].student_source.startswith("def contrastive_loss")


def test_huge_broken_file_parses_in_a_few_passes(tmp_path, monkeypatch):
    import ast as ast_module

    calls = []
    real_parse = ast_module.parse
    monkeypatch.setattr(ast_module, "parse", lambda text, *a, **k: (calls.append(1), real_parse(text, *a, **k))[1])
    write(tmp_path, "similarity.py", HANDOUT_FORM + "x = 1\n" * 20_000 + "def broken(:\n")
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert len(calls) < 100  # one parse per top-level piece would be 20,000


def test_parsing_stops_at_the_byte_budget(tmp_path, monkeypatch):
    import simgrade.discover.folder as discovery

    monkeypatch.setattr(discovery, "MAX_PARSE_BYTES", 2000)
    write(tmp_path, "similarity.py", HANDOUT_FORM)
    for name in ("a.py", "b.py"):
        write(tmp_path, name, "x = 1\n" * 300)
    notebook(tmp_path, "c.ipynb", ["y = 2\n" * 300, "z = 3"])
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert "not searched for code (over the 0 MiB of source discovery parses in all): a.py, b.py" in sub.notes
    assert any(n.startswith("c.ipynb: cell 1 and the cells after it not searched for code (over the") for n in sub.notes)
    assert set(sub.files) == {"similarity.py", "a.py", "b.py", "c.ipynb"}  # still copied for the sandbox


def test_parsing_stops_at_the_deadline(tmp_path, monkeypatch):
    import simgrade.discover.folder as discovery

    monkeypatch.setattr(discovery, "DISCOVER_SECONDS", 0.0)
    write(tmp_path, "similarity.py", HANDOUT_FORM)
    sub = discover(tmp_path, SPECS)
    assert sub.programs == {}
    assert "not searched for code (discovery's 0 s budget is spent): similarity.py" in sub.notes


# ----------------------------------------------------------------------------------------
# correct code that once lost points: locals built from the submission's own classes, import
# guards that set flags, the handout stub beside a real solution
# ----------------------------------------------------------------------------------------

OWN_LOSS_CLASS = """
class PairLoss(nn.Module):
    def __init__(self, temperature=0.1):
        super().__init__()
        self.temperature = temperature

    def forward(self, a, b):
        logits = a @ b.T / self.temperature
        return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def make_loss(temperature):
    return PairLoss(temperature)
"""


@pytest.mark.parametrize("build", ["PairLoss(temperature=tau)", "make_loss(tau)", "PairLoss(temperature=t)"])
def test_course_local_built_from_the_submissions_own_class(tmp_path, build):
    write(tmp_path, "hw.py", TRAINER_HEAD + OWN_LOSS_CLASS + textwrap.dedent(f"""
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        t = tau
        criterion = {build}
        for epoch in range(15):
            for batch1, batch2 in tqdm(dataloader):
                batch1, batch2 = batch1.to(device), batch2.to(device)
                loss = criterion(enc(batch1), enc(batch2))
                optim.zero_grad()
                loss.backward()
                optim.step()
    """))
    sub = discover(tmp_path, (CONTRASTIVE,))
    program = sub.programs["contrastive_loss"]
    assert program.form == "course", sub.notes
    assert any(f"also takes `criterion = {build}`" in n for n in sub.notes), sub.notes
    torch.testing.assert_close(load(program)(enc, B1, B2, TAU), ref_contrastive())


def test_course_local_not_taken_says_why(tmp_path):
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent("""
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        criterion = torch.load('criterion.pt')
        pairs = [p for p in range(3)]
        for epoch in range(15):
            for batch1, batch2 in tqdm(dataloader):
                loss = criterion(enc(batch1), enc(batch2)) + len(pairs) * 0
                optim.zero_grad()
                loss.backward()
                optim.step()
    """))
    sub = discover(tmp_path, (CONTRASTIVE,))
    notes = "\n".join(sub.notes)
    assert ("use `criterion`, a local of train_contrastive; `criterion = torch.load('criterion.pt')` (hw.py, line 9) "
            "not taken: it calls .load") in notes
    assert ("use `pairs`, a local of train_contrastive; `pairs = [p for p in range(3)]` (hw.py, line 10) "
            "not taken: it uses a comprehension") in notes


def test_course_local_never_runs_training(tmp_path):
    """Calling the submission's own training (or data) function to build a local is still refused."""
    write(tmp_path, "hw.py", TRAINER_HEAD + textwrap.dedent("""
    def train_helper():
        return nn.CrossEntropyLoss()

    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        criterion = train_helper()
        for epoch in range(15):
            for batch1, batch2 in tqdm(dataloader):
                logits = enc(batch1) @ enc(batch2).T / tau
                loss = criterion(logits, torch.arange(len(logits)))
                optim.zero_grad()
                loss.backward()
                optim.step()
    """))
    sub = discover(tmp_path, (CONTRASTIVE,))
    assert "train_helper" not in all_source(sub)
    assert any("not taken: it calls train_helper" in n for n in sub.notes), sub.notes


def test_import_guard_that_sets_a_flag(tmp_path):
    write(tmp_path, "similarity.py", """
    import torch
    import torch.nn.functional as F

    try:
        import not_a_real_package_xyz
        HAVE_IT = True
    except ImportError:
        HAVE_IT = False
    try:
        import math
    except ImportError:
        USE_MATH = False
    else:
        USE_MATH = True

    def autoencoder_loss(enc, dec, batch):
        if HAVE_IT:
            return not_a_real_package_xyz.mse(dec(enc(batch)), batch)
        return F.mse_loss(dec(enc(batch)), batch) * (math.exp(0.0) if USE_MATH else 1.0)

    def contrastive_loss(enc, batch1, batch2, tau):
        logits = enc(batch1) @ enc(batch2).T / tau
        return F.cross_entropy(logits, torch.arange(len(logits)))
    """)
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert not any("not taken" in n for n in sub.notes), sub.notes


def test_import_guard_with_a_call_in_its_body_is_not_a_guard(tmp_path):
    write(tmp_path, "similarity.py", """
    import torch.nn.functional as F
    try:
        import os
        FLAG = os.system('true')
    except ImportError:
        FLAG = 0

    def autoencoder_loss(enc, dec, batch):
        return F.mse_loss(dec(enc(batch)), batch) + FLAG
    """)
    sub = discover(tmp_path, (AUTOENCODER,))
    assert "os.system" not in all_source(sub)


STUBS = '''
import torch

def autoencoder_loss(enc, dec, batch):
    """Question 7b."""
    raise NotImplementedError("FIXME: question 7b, write autoencoder_loss")

def contrastive_loss(enc, batch1, batch2, tau):
    """Question 8a."""
    raise NotImplementedError("FIXME: question 8a, write contrastive_loss")
'''


def test_an_implemented_definition_wins_over_the_handout_stub(tmp_path):
    write(tmp_path, "similarity.py", STUBS)
    write(tmp_path, "solution.py", """
    import torch
    import torch.nn.functional as F

    def autoencoder_loss(enc, dec, batch):
        return F.mse_loss(dec(enc(batch)), batch)

    def contrastive_loss(enc, batch1, batch2, tau):
        logits = enc(batch1) @ enc(batch2).T / tau
        return F.cross_entropy(logits, torch.arange(len(logits)))
    """)
    sub = discover(tmp_path, SPECS)
    check_correct(sub)
    assert all(p.origin == "solution.py" for p in sub.programs.values())
    notes = "\n".join(sub.notes)
    assert "defined in 2 files (similarity.py, solution.py); using solution.py" in notes
    assert "the unimplemented stub in similarity.py is not graded; using the implemented definition in solution.py" in notes


def test_the_course_notebook_wins_over_the_handout_stub(tmp_path):
    write(tmp_path, "similarity.py", STUBS)
    notebook(tmp_path, "hw4.ipynb", [TRAINER_HEAD, """
    def train_contrastive(transforms, latent_dim, *, tau=0.07):
        for epoch in range(15):
            for batch1, batch2 in tqdm(dataloader):
                batch1, batch2 = batch1.to(device), batch2.to(device)
                # FIXME
                logits = enc(batch1) @ enc(batch2).T / tau
                loss = F.cross_entropy(logits, torch.arange(len(logits), device=device))
                optim.zero_grad()
                loss.backward()
                optim.step()
    """])
    sub = discover(tmp_path, SPECS)
    check_correct(sub, ("contrastive_loss",))
    assert sub.programs["contrastive_loss"].form == "course"
    assert sub.programs["autoencoder_loss"].origin == "similarity.py"  # only the stub: it is graded (0)
    assert any("the unimplemented stub in similarity.py is not graded; using the lines at the FIXME of "
               "train_contrastive in hw4.ipynb" in n for n in sub.notes), sub.notes


def test_the_stub_alone_is_still_graded(tmp_path):
    write(tmp_path, "similarity.py", STUBS)
    sub = discover(tmp_path, SPECS)
    assert sub.programs["contrastive_loss"].origin == "similarity.py"
    with pytest.raises(NotImplementedError):
        load(sub.programs["contrastive_loss"])(enc, B1, B2, TAU)
