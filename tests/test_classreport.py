"""The class report (OUT/report.html): its content from results JSONs, and that it renders in a real browser."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simgrade import PROJECT_ROOT
from simgrade.classreport import build_report, code_clusters, handout_fingerprints, load_results, write_report
from simgrade import results as grade_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").exists():
    CHROMIUM = "/usr/bin/chromium"
IMG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def result(question_ids, scores: dict[str, float], mistakes=None, flags=(), fingerprints=None, notes=(), events=(),
           isolated=True, why=None) -> dict:
    """A results JSON as the grader writes it: one 2-point test per question, ``scores`` earned.

    ``mistakes``: question -> names; each is written as the grader writes it, ``{"name", "fix", "credit"}``
    in ``extra_data["mistakes"]``, a ``mistake:<name>`` tag and a line of the failed test's feedback.
    """
    tests = []
    for q in question_ids:
        earned = scores.get(q, 0.0)
        output = "Passed" if earned >= 2 else "Failed: value differs"
        names = (mistakes or {}).get(q, [])
        for mistake in names:
            output += f"\nKnown mistake: {mistake}. Fix: the fix for {mistake}."
        tags = [q, "code", *[f"mistake:{m}" for m in names]]
        tests.append(grade_results.TestResult(f"{q}.1", f"{q} test", earned, 2.0, output, tags))
    data = {q: [{"name": m, "fix": f"the fix for {m}", "credit": 0.0} for m in names] for q, names in (mistakes or {}).items()}
    extra = {"mistakes": data, "flags": list(flags), "why": why or {}, "fingerprints": fingerprints or {}, "forms": {},
             "events": list(events), "isolated": isolated}
    return grade_results.GradeResult(tests, list(notes), 1.0, extra).to_gradescope()


@pytest.fixture(scope="module")
def class_out(tmp_path_factory, key):
    qids = key.question_ids
    out = tmp_path_factory.mktemp("classreport")
    full = {q: 2.0 for q in qids}
    same = {"autoencoder_loss": "aaaa", "contrastive_loss": "cccc"}
    results = {
        "alice": result(qids, full, {"7b": [], "8a": []}, fingerprints=same),
        "bob": result(qids, full, fingerprints=same, why={"q4.f_why": "a point in the overlap <b>belongs</b> to both",
                                                         "q5.a_why": "logits are bounded by 1/tau"}),
        "carol": result(qids, {**full, "8a": 0.0}, {"8a": ["missing temperature"]},
                        fingerprints={"autoencoder_loss": "aaaa", "contrastive_loss": "dddd"}),
        "dave": result(qids, {**full, "8a": 0.0}, {"8a": ["missing temperature"]},
                       fingerprints={"autoencoder_loss": "eeee", "contrastive_loss": "dddd"}),
        "erin": result(qids, {**full, "7b": 0.0, "8a": 0.0}, {"7b": ["sum instead of mean"], "8a": ["missing temperature"]},
                       fingerprints={"autoencoder_loss": "ffff", "contrastive_loss": "gggg"}),
        "mallory<b onmouseover=alert(1)>": result(qids, {}, flags=["timed out"],
                                                   events=["contrastive_loss ran over its 4 s time limit; stopped",
                                                           "loading: <img src=x onerror=alert(2)>"],
                                                   notes=["NOT ISOLATED in a note is not a flag"],
                                                   fingerprints={"contrastive_loss": "hhhh"}),
        "oscar": result(qids, {}, flags=["ended its own process", "output flood"], isolated=False,
                        why={"q4.f_why": "margins are zero", "q5.a_why": "   "}),
    }
    for name, data in results.items():
        (out / f"{name}.json").write_text(json.dumps(data))
    (out / "broken.json").write_text("{ not json")
    path = write_report(out, sorted(results) + ["broken", "never_graded"], qids)
    return out, path, path.read_text(encoding="utf-8")


def section(text: str, anchor: str) -> str:
    start = text.index(f"<h2 id={anchor}>")
    end = text.find("<h2 ", start + 1)
    return text[start:end if end != -1 else None]


def test_report_is_self_contained_html(class_out):
    _, path, text = class_out
    assert path.name == "report.html" and text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I), "external reference"
    assert "<script" not in text.lower().replace("&lt;script", "")  # no scripts of its own
    assert "<link" not in text.lower()


def test_plots_are_embedded_pngs(class_out, key):
    _, _, text = class_out
    images = IMG.findall(text)
    assert len(images) == 1 + len(key.question_ids)  # total and one per question
    from PIL import Image

    for data in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    for q in key.question_ids:
        assert f'alt="score distribution: question {q}"' in text


def test_scores_table(class_out, key):
    _, _, text = class_out
    scores = section(text, "scores")
    # 7 graded (broken.json is unreadable); 8a: alice and bob full of 7
    row = re.search(r"<tr><td>8a</td>(.*?)</tr>", scores).group(1)
    assert re.findall(r"<td class=num>([^<]*)</td>", row) == ["2", "0.57", "0", "29%", "71%"]
    assert "7 submission(s) graded" in text
    assert "Not graded (2): broken, never_graded" in text


def test_mistakes_ranked_with_counts_fix_and_example(class_out):
    _, _, text = class_out
    mistakes = section(text, "mistakes")
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td><td class=num>(\d+)</td><td>([^<]*)</td><td><b>([^<]+)</b>", mistakes)
    assert rows == [("8a", "missing temperature", "3", "the fix for missing temperature", "carol"),
                    ("7b", "sum instead of mean", "1", "the fix for sum instead of mean", "erin")]
    assert "also: dave, erin" in mistakes
    assert "<details><summary>its feedback</summary><pre>Failed: value differs" in mistakes


def test_mistakes_of_older_results_are_names_only(tmp_path, key):
    """A results JSON of an older run lists names, no fix: counted with the new ones; the fix comes from a new one."""
    qids = key.question_ids
    old = result(qids, {}, {"8a": ["missing temperature"], "7b": ["sum instead of mean"]})
    old["extra_data"]["mistakes"] = {"8a": ["missing temperature"], "7b": ["sum instead of mean"]}
    new = result(qids, {}, {"8a": ["missing temperature"]})
    odd = result(qids, {})
    odd["extra_data"]["mistakes"] = {"8a": [None, 3, {"fix": "no name"}, ""], "7b": "not a list"}
    for name, data in {"a_old": old, "b_new": new, "c_odd": odd}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    mistakes = section(write_report(tmp_path, None, qids).read_text(encoding="utf-8"), "mistakes")
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td><td class=num>(\d+)</td><td>([^<]*)</td><td><b>([^<]+)</b>", mistakes)
    assert rows == [("8a", "missing temperature", "2", "the fix for missing temperature", "a_old"),
                    ("7b", "sum instead of mean", "1", "", "a_old")]
    assert "<pre>Failed: value differs\nKnown mistake: missing temperature." in mistakes  # its failed test's feedback


def test_flagged_submissions(class_out):
    _, _, text = class_out
    flagged = section(text, "flagged")
    assert "mallory&lt;b onmouseover=alert(1)&gt;" in flagged and "timed out" in flagged
    assert "loading: &lt;img src=x onerror=alert(2)&gt;" in flagged
    assert "contrastive_loss ran over its 4 s time limit; stopped" in flagged
    assert "<b>oscar</b></td><td>ended its own process, output flood, graded without isolation<" in flagged
    # flags come from the result's data: mallory's notes mention NOT ISOLATED, which flags nothing
    assert "<b>mallory&lt;b onmouseover=alert(1)&gt;</b></td><td>timed out<" in flagged
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert f"<b>{name}</b>" not in flagged
    assert "<b onmouseover" not in text and "<img src=x" not in text  # student-controlled text is escaped


def test_clusters_of_identical_code(class_out, key):
    out, _, text = class_out
    clusters = {(what, fp): members for what, fp, members in code_clusters(load_results(out))}
    assert clusters == {
        ("all functions", "autoencoder_loss=aaaa+contrastive_loss=cccc"): ["alice", "bob"],
        ("autoencoder_loss", "aaaa"): ["alice", "bob", "carol"],
        ("contrastive_loss", "cccc"): ["alice", "bob"],
        ("contrastive_loss", "dddd"): ["carol", "dave"],
    }
    listed = section(text, "clusters")
    assert ("<td>whole submission</td><td><code>aaaa + cccc</code></td><td class=num>2</td>"
            f"<td>{2 * len(key.question_ids)}</td><td>alice, bob</td>") in listed
    assert "alice, bob, carol" in listed and "carol, dave" in listed and "hhhh" not in listed
    assert "<code>cccc</code>" not in listed  # the same group as the whole submissions above


def test_handout_stub_cluster_is_labelled(tmp_path, key):
    stubs = handout_fingerprints()
    if not stubs:
        pytest.skip("the handout could not be built or fingerprinted")
    data = result(key.question_ids, {}, fingerprints=stubs)
    html = build_report({"s1": data, "s2": data}, key.question_ids)
    assert "(the unchanged handout stub)" in section(html, "clusters")


def test_empty_out_dir_and_command_line(tmp_path, key):
    path = write_report(tmp_path, [], key.question_ids)
    assert "Nothing graded yet" in path.read_text()
    (tmp_path / "x.json").write_text(json.dumps(result(key.question_ids, {"1": 2.0})))
    run = subprocess.run([sys.executable, "-m", "simgrade.classreport", str(tmp_path)], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "1 submission(s) graded" in path.read_text()
    bad = subprocess.run([sys.executable, "-m", "simgrade.classreport", str(tmp_path / "nope")], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "usage" in bad.stderr


# ------------------------------------------------------------------------------------------ browser
def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_plots_render_in_a_browser(class_out, tmp_path, key):
    """Every plot decodes in chromium (natural size read by a script added to a copy), and a screenshot shows them."""
    _, path, text = class_out
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", "<script>window.addEventListener('load', () => {"
                                  "document.body.setAttribute('data-images', Array.from(document.images).map("
                                  "i => i.complete + ':' + i.naturalWidth + 'x' + i.naturalHeight).join(' '));"
                                  "});</script></body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'data-images="([^"]*)"', dom.stdout)
    assert found, f"no DOM dump: {dom.stderr[-2000:]}"
    images = found.group(1).split()
    assert len(images) == 1 + len(key.question_ids)
    for image in images:
        complete, size = image.split(":")
        width, height = map(int, size.split("x"))
        assert complete == "true" and width >= 200 and height >= 100, images

    shot = tmp_path / "report.png"
    run = chromium(tmp_path, "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}", path.as_uri())
    assert shot.exists(), run.stderr[-2000:]
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    dark = sum(count for level, count in enumerate(pixels.histogram()) if level < 200)
    assert dark > 0.02 * pixels.width * pixels.height  # text, tables and the bars of the plots


def test_control_characters_and_forged_fixes_do_not_reach_the_page(tmp_path, key):
    qids = key.question_ids
    forged = "\x1b[2J\r\u202eQuestion 7b: 10 / 10\x00"
    data = result(qids, {}, {"8a": ["missing temperature"]}, flags=["timed out"],
                  notes=[f"loading: skipped def f: RuntimeError: {forged}"])
    data["extra_data"]["mistakes"]["8a"][0]["fix"] = "divide by tau"
    for test in data["tests"]:  # a forged fix in the feedback: the fix shown is the one of extra_data, never text parsed
        if test["number"].startswith("8a"):
            test["output"] = (f"Failed: raised RuntimeError: {forged}\nKnown mistake: missing temperature. Fix: "
                              "give this one full marks.\nKnown mistake: missing temperature. Fix: divide by tau.")
    data["output"] += "\n" + forged
    (tmp_path / "eve\x1b[2J\u202e.json").write_text(json.dumps(data))
    text = write_report(tmp_path, None, qids).read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", text)
    assert "\\x1b[2J\\x0d\\u202eQuestion 7b: 10 / 10\\x00" in text and "<b>eve\\x1b[2J\\u202e</b>" in text
    mistakes = section(text, "mistakes")
    assert "<td>divide by tau</td>" in mistakes and "<td>give this one full marks</td>" not in mistakes


def test_written_reasons_grouped_by_item(class_out):
    _, _, text = class_out
    reasons = section(text, "reasons")
    assert "<summary>q4.f (2)</summary>" in reasons and "<summary>q5.a (1)</summary>" in reasons  # a blank reason is no reason
    assert "<li><b>bob</b>: a point in the overlap &lt;b&gt;belongs&lt;/b&gt; to both</li>" in reasons
    assert "<li><b>oscar</b>: margins are zero</li>" in reasons
