"""``OUT/report.html``: where the class went wrong, at a glance, for the course staff.

Built from the batch's results JSONs alone (so a resumed batch reports on every submission), as
one self-contained HTML file: no scripts, no external URLs, plots embedded as base64 PNG.

Sections: the score per question (table and distribution plots), the most frequent diagnosed
mistakes (count, the fix, one example submission with its feedback), submissions flagged by the
sandbox (timed out, ended its own process, flooded its output) or graded without isolation, and
clusters of identical code (same normalised-AST fingerprint) for the TA to look at.

``python -m simgrade.classreport OUT_DIR`` rebuilds the report from the JSONs in OUT_DIR.
"""
from __future__ import annotations

import base64
import html
import io
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from simgrade.results import OUTPUT_LIMIT, question_scores, read_result, result_path, write_text_atomic
from simgrade.text import untrusted

MAX_MEMBERS_SHOWN = 40
"""Names listed per cluster or mistake before the list is cut."""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 75em;
       padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5em; }
figure { margin: 0; border: 1px solid #ddd; padding: 0.3em; }
figcaption { font-size: 0.85em; text-align: center; color: #555; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: 0.5em; font-size: 0.85em; max-height: 20em; overflow: auto; }
.muted { color: #666; } .warn { color: #a00; font-weight: bold; }
code { background: #f2f2f2; padding: 0 0.2em; }
"""


def _e(text) -> str:
    """Text from a results JSON (it quotes submissions) as HTML: control characters escaped visibly, then HTML-escaped."""
    return html.escape(untrusted(str(text), OUTPUT_LIMIT), quote=True)


def _num(value: float) -> str:
    value = round(float(value), 2)
    return str(int(value)) if value == int(value) else f"{value:g}"


def load_results(out_dir: Path, names: list[str] | None = None) -> dict[str, dict]:
    """Every readable results JSON in ``out_dir`` (or those of ``names``), by submission name."""
    out_dir = Path(out_dir)
    if names is None:
        names = sorted(p.stem for p in out_dir.glob("*.json"))
    results = {}
    for name in names:
        data = read_result(result_path(out_dir, name))
        if data is not None:
            results[name] = data
    return results


def _question_max(results: dict[str, dict]) -> dict[str, float]:
    best: dict[str, float] = {}
    for data in results.values():
        per: dict[str, float] = defaultdict(float)
        for test in data.get("tests", []):
            per[str(test.get("number", "")).rsplit(".", 1)[0]] += float(test.get("max_score", 0.0))
        for q, m in per.items():
            best[q] = max(best.get(q, 0.0), m)
    return best


# ------------------------------------------------------------------------------------------ plots
def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _distribution_plot(values: list[float], maximum: float, title: str) -> str:
    """A bar chart of how many submissions got each score (a histogram when scores are many)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 2.4))
    ax = fig.add_subplot()
    counts = Counter(round(v, 2) for v in values)
    if len(counts) <= 15:
        xs = sorted(counts)
        width = max(maximum, 1.0) / 25
        ax.bar(xs, [counts[x] for x in xs], width=width, color="#3b6ea5")
    else:
        ax.hist(values, bins=20, range=(0, max(maximum, 1.0)), color="#3b6ea5")
    ax.set_xlim(-max(maximum, 1.0) * 0.06, max(maximum, 1.0) * 1.06)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("points", fontsize=8)
    ax.set_ylabel("submissions", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    if all(float(v).is_integer() for v in [*values, maximum]):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _png(fig)


def _figure(png: str, caption: str) -> str:
    return (f'<figure><img class="plot" alt="{_e(caption)}" src="data:image/png;base64,{png}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


# ------------------------------------------------------------------------------------------ sections
def _scores_section(results: dict[str, dict], question_ids: list[str]) -> str:
    maxima = _question_max(results)
    per_q: dict[str, list[float]] = {q: [] for q in question_ids}
    totals, max_total = [], 0.0
    for data in results.values():
        scores = question_scores(data)
        for q in question_ids:
            per_q[q].append(scores.get(q, 0.0))
        totals.append(float(data.get("score", 0.0)))
        max_total = max(max_total, float(data.get("max_score", 0.0)))
    rows = []
    for q in ["total", *question_ids]:
        values, maximum = (totals, max_total) if q == "total" else (per_q[q], maxima.get(q, 0.0))
        if not values:
            continue
        full = sum(1 for v in values if maximum and v >= maximum - 1e-9)
        zero = sum(1 for v in values if v <= 1e-9)
        rows.append(f"<tr><td>{_e(q)}</td><td class=num>{_num(maximum)}</td><td class=num>{_num(statistics.mean(values))}</td>"
                    f"<td class=num>{_num(statistics.median(values))}</td><td class=num>{100 * full / len(values):.0f}%</td>"
                    f"<td class=num>{100 * zero / len(values):.0f}%</td></tr>")
    figures = [_figure(_distribution_plot(totals, max_total, "total"), "score distribution: total")]
    figures += [_figure(_distribution_plot(per_q[q], maxima.get(q, 0.0), f"question {q}"), f"score distribution: question {q}")
                for q in question_ids if per_q[q]]
    return ("<h2 id=scores>Scores per question</h2>"
            "<table><tr><th>question</th><th>max</th><th>mean</th><th>median</th><th>full marks</th><th>zero</th></tr>"
            + "".join(rows) + "</table>"
            "<div class=plots>" + "".join(figures) + "</div>")


def diagnosed_mistakes(data: dict) -> list[tuple[str, str, str]]:
    """(question, name, fix) of every mistake diagnosed in one results JSON, read from ``extra_data["mistakes"]``.

    The grader writes ``{question: [{"name", "fix", "credit"}, ...]}``; results of older runs hold a
    list of names per question, without the fix (then ``""``). Anything else there is left out.
    """
    found = []
    per_question = (data.get("extra_data") or {}).get("mistakes")
    if not isinstance(per_question, dict):
        return found
    for question, entries in per_question.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                name, fix = entry.get("name"), entry.get("fix")
            else:
                name, fix = entry, None
            if isinstance(name, str) and name:
                found.append((str(question), name, fix if isinstance(fix, str) else ""))
    return found


def _mistake_output(data: dict, question: str, mistake: str) -> str:
    """The feedback of the failed test of ``question`` that names ``mistake`` (by its tag), or of its first failed test."""
    failed = [t for t in data.get("tests", [])
              if str(t.get("number", "")).rsplit(".", 1)[0] == question and t.get("status") != "passed"]
    tagged = [t for t in failed if f"mistake:{mistake}" in (t.get("tags") or [])]
    return str((tagged or failed or [{}])[0].get("output", ""))


def _mistakes_section(results: dict[str, dict]) -> str:
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    fixes: dict[tuple[str, str], str] = {}
    for name, data in results.items():
        for question, mistake, fix in diagnosed_mistakes(data):
            if name not in seen[(question, mistake)]:
                seen[(question, mistake)].append(name)
            if fix and not fixes.get((question, mistake)):
                fixes[(question, mistake)] = fix
    if not seen:
        return "<h2 id=mistakes>Most frequent mistakes</h2><p class=muted>No known mistake was diagnosed in any submission.</p>"
    rows = []
    for (question, mistake), members in sorted(seen.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        example = members[0]
        fix, output = fixes.get((question, mistake), ""), _mistake_output(results[example], question, mistake)
        feedback = f"<details><summary>its feedback</summary><pre>{_e(output)}</pre></details>" if output else ""
        others = ", ".join(_e(m) for m in members[1:MAX_MEMBERS_SHOWN])
        more = f" and {len(members) - MAX_MEMBERS_SHOWN} more" if len(members) > MAX_MEMBERS_SHOWN else ""
        rows.append(f"<tr><td>{_e(question)}</td><td>{_e(mistake)}</td><td class=num>{len(members)}</td><td>{_e(fix)}</td>"
                    f"<td><b>{_e(example)}</b>{feedback}"
                    + (f"<div class=muted>also: {others}{more}</div>" if others else "") + "</td></tr>")
    return ("<h2 id=mistakes>Most frequent mistakes</h2>"
            "<p class=muted>Mistakes the grader recognised by behaviour (docs/MISTAKES.md), most frequent first.</p>"
            "<table><tr><th>question</th><th>mistake</th><th>submissions</th><th>fix</th><th>example</th></tr>"
            + "".join(rows) + "</table>")


def _flagged_section(results: dict[str, dict]) -> str:
    rows = []
    for name, data in results.items():
        extra = data.get("extra_data") or {}
        flags = [str(f) for f in extra.get("flags") or []]
        if extra.get("isolated") is False:
            flags.append("graded without isolation")
        if not flags:
            continue
        notes = [str(e) for e in extra.get("events") or []][:8]
        rows.append(f"<tr><td><b>{_e(name)}</b></td><td>{_e(', '.join(flags))}</td>"
                    f"<td class=num>{_num(data.get('score', 0))} / {_num(data.get('max_score', 0))}</td>"
                    f"<td>{'<br>'.join(_e(n) for n in notes)}</td></tr>")
    if not rows:
        return "<h2 id=flagged>Flagged submissions</h2><p class=muted>None timed out, ended its own process or flooded its output.</p>"
    return ("<h2 id=flagged>Flagged submissions</h2>"
            "<p class=muted>Stopped at a time limit, ended the sandbox's process, printed more than was kept, "
            "or graded without the sandbox. Their grades stand; look at the code if the behaviour looks deliberate.</p>"
            "<table><tr><th>submission</th><th>flags</th><th>score</th><th>what the grader noted</th></tr>"
            + "".join(rows) + "</table>")


def _reasons_section(results: dict[str, dict]) -> str:
    """The students' ``<key>_why`` texts, grouped by written item: what a TA reads beside the answers."""
    by_field: dict[str, list[tuple[str, str]]] = {}
    for name, data in results.items():
        for key, text in ((data.get("extra_data") or {}).get("why") or {}).items():
            if str(text).strip():
                by_field.setdefault(str(key).removesuffix("_why"), []).append((name, str(text)))
    head = ("<h2 id=reasons>Written reasons</h2>"
            "<p class=muted>The <code>_why</code> companions of the written answers (and the reasons given after a "
            "yes/no verdict), not scored: for the TA.</p>")
    if not by_field:
        return head + "<p class=muted>No submission gave a reason.</p>"
    blocks = []
    for field in sorted(by_field):
        items = "".join(f"<li><b>{_e(name)}</b>: {_e(text)}</li>" for name, text in sorted(by_field[field]))
        blocks.append(f"<details><summary>{_e(field)} ({len(by_field[field])})</summary><ul>{items}</ul></details>")
    return head + "".join(blocks)


def handout_fingerprints() -> dict[str, str]:
    """Fingerprints of the unchanged handout stubs (best effort: empty if the handout cannot be built)."""
    try:
        from simgrade.discover import discover
        from simgrade.grade import function_specs
        from simgrade.handout import write_handout
        from simgrade.key import load_key

        key = load_key()
        with tempfile.TemporaryDirectory() as folder:
            write_handout(Path(folder), key)
            return dict(discover(Path(folder), function_specs(key.code)).fingerprints)
    except Exception:  # noqa: BLE001 - only a label in the report
        return {}


def code_clusters(results: dict[str, dict]) -> list[tuple[str, str, list[str]]]:
    """(what, fingerprint, members) for every group of ≥2 submissions with identical code, largest first.

    ``what`` is a function name, or ``all functions`` for submissions whose every graded function is
    identical (two or more functions)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, data in results.items():
        prints = (data.get("extra_data") or {}).get("fingerprints") or {}
        for function, fingerprint in sorted(prints.items()):
            groups[(str(function), str(fingerprint))].append(name)
        if len(prints) >= 2:
            whole = "+".join(f"{f}={p}" for f, p in sorted(prints.items()))
            groups[("all functions", whole)].append(name)
    clusters = [(what, fp, members) for (what, fp), members in groups.items() if len(members) >= 2]
    return sorted(clusters, key=lambda c: (c[0] != "all functions", -len(c[2]), c[0], c[1]))


def _clusters_section(results: dict[str, dict]) -> str:
    clusters = code_clusters(results)
    head = ("<h2 id=clusters>Identical code</h2>"
            "<p class=muted>Submissions whose functions have the same normalised syntax tree (names, comments and "
            "formatting ignored), largest groups first; a function's group is left out when it is the same "
            "submissions as a whole-submission group. Short correct answers often coincide by themselves; a "
            "cluster matters when the code is long, unusual, or shares a mistake.</p>")
    if not clusters:
        return head + "<p class=muted>No two submissions have identical code.</p>"
    stubs = set(handout_fingerprints().items())
    whole_sets = {tuple(members) for what, _, members in clusters if what == "all functions"}
    rows = []
    for what, fingerprint, members in clusters:
        if what == "all functions":
            parts = [tuple(p.split("=", 1)) for p in fingerprint.split("+")]
            stub = set(parts) <= stubs
            shown = " + ".join(fp for _, fp in parts)
            what = "whole submission"
        elif tuple(members) in whole_sets:
            continue  # already listed as a whole submission
        else:
            stub = (what, fingerprint) in stubs
            shown = fingerprint
        label = " <span class=muted>(the unchanged handout stub)</span>" if stub else ""
        totals = sorted({_num(results[m].get("score", 0)) for m in members}, key=float)
        names = ", ".join(_e(m) for m in members[:MAX_MEMBERS_SHOWN])
        more = f" and {len(members) - MAX_MEMBERS_SHOWN} more" if len(members) > MAX_MEMBERS_SHOWN else ""
        rows.append(f"<tr><td>{_e(what)}{label}</td><td><code>{_e(shown)}</code></td><td class=num>{len(members)}</td>"
                    f"<td>{_e(', '.join(totals))}</td><td>{names}{more}</td></tr>")
    return (head + "<table><tr><th>code</th><th>fingerprint</th><th>submissions</th><th>their totals</th><th>members</th></tr>"
            + "".join(rows) + "</table>")


def build_report(results: dict[str, dict], question_ids: list[str], missing: list[str] = (), title: str = "") -> str:
    """The report's HTML."""
    totals = [float(d.get("score", 0.0)) for d in results.values()]
    max_total = max((float(d.get("max_score", 0.0)) for d in results.values()), default=0.0)
    summary = (f"{len(results)} submission(s) graded"
               + (f"; mean {_num(statistics.mean(totals))} / {_num(max_total)}, median {_num(statistics.median(totals))}"
                  if totals else ""))
    missing_html = ""
    if missing:
        missing_html = (f"<p class=warn>Not graded ({len(missing)}): "
                        + ", ".join(_e(m) for m in missing[:MAX_MEMBERS_SHOWN]) + "</p>")
    body = (f"<h1>Class report{(': ' + _e(title)) if title else ''}</h1><p>{_e(summary)}</p>{missing_html}"
            "<p><a href='#scores'>scores</a> · <a href='#mistakes'>mistakes</a> · <a href='#flagged'>flagged</a> · "
            "<a href='#clusters'>identical code</a> · <a href='#reasons'>written reasons</a></p>")
    if results:
        body += _scores_section(results, question_ids) + _mistakes_section(results) + _flagged_section(results)
        body += _clusters_section(results) + _reasons_section(results)
    else:
        body += "<p class=muted>Nothing graded yet.</p>"
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>simgrade class report</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def write_report(out_dir: Path, names: list[str] | None = None, question_ids: list[str] | None = None) -> Path:
    """Write ``out_dir/report.html`` from the results JSONs there (those of ``names`` when given)."""
    out_dir = Path(out_dir)
    if question_ids is None:
        from simgrade.key import load_key

        question_ids = load_key().question_ids
    results = load_results(out_dir, names)
    missing = [n for n in (names or []) if n not in results]
    path = out_dir / "report.html"
    write_text_atomic(path, build_report(results, question_ids, missing, title=out_dir.resolve().name))
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        sys.stderr.write("usage: python -m simgrade.classreport OUT_DIR  (a folder of results JSONs)\n")
        return 2
    print(f"wrote {write_report(Path(argv[0]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
