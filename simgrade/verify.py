"""``python grader.py --verify``: run the claim checks behind the answer key and print their table.

Every claim referenced by ``answers/key.toml`` is run under its real premise (it must hold) and under its
negative control (it must fail); then every other registered claim. The table gives, per claim: question,
claim id, method, verdict, seconds, the statement, the claim's kind (how strong its verdict is: symbolic proof,
property over generated inputs, experiment over n seeds), and the evidence of both runs (what the control breaks and
its counterexample included). Then each key item: verified by its claims (each with its kind), staff-basis, a staff
prediction the measurement contradicts, or not verified.

A claim registered as a staff prediction (``claim(..., prediction=True)``, e.g. Q8(b)'s predicted invariances) whose
measurement contradicts it is shown as ``STAFF PREDICTION (measurement contradicts: <what was measured>)``, in the
table, the key's list and the summary counts; it is reported, not a defect of the suite, so it does not change the
exit status (its negative control must still fail by its assertion).

Exit status 1 when a claim behind the key is falsified, its negative control passed, or a key item names a
claim that does not exist; 0 otherwise (claims skipped with ``include_slow=False`` and contradicted staff predictions
do not fail the run).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from checks.claim import Claim, Verdict, load_all, verify
from simgrade.key import load_key

STATEMENT_WIDTH = 70
EVIDENCE_WIDTH = 300


def kind(c: Claim) -> str:
    """How strong a verified claim's verdict is, in words: symbolic proof / property over generated inputs /
    experiment over n seeds (``n`` from the check's ``seeds`` attribute, set with ``checks.check_q4.seeds``)."""
    if c.method == "sympy proof":
        return "symbolic proof"
    if c.method == "hypothesis property":
        return "property over generated inputs"
    if c.method == "exhaustive enumeration":
        return "exhaustive enumeration"
    n = getattr(c.check, "seeds", None)
    if n:
        return f"experiment over {n} seed{'s' if n != 1 else ''}" + (" (training runs)" if c.slow else "")
    return "experiment (training run)" if c.slow else "experiment"


_STRENGTH = {
    "symbolic proof": "exact: holds for every input the statement covers",
    "property over generated inputs": "tested on derandomised hypothesis examples, counterexamples searched and shrunk; not a proof",
    "exhaustive enumeration": "every case of a finite domain checked",
}


def _strength(c: Claim) -> str:
    k = kind(c)
    text = f"{k} ({_STRENGTH.get(k, 'numerical evidence from the stated runs; not a proof')})"
    if c.prediction:
        text += "; staff prediction (a measurement that contradicts it is reported, not a failure)"
    return text


def _shorten(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _row(cells: list[str], claim_width: int) -> str:
    """question, claim, method, verdict, seconds: fixed-width plain-text columns."""
    widths = (8, claim_width, 19, 14, 7)
    return "  ".join(c.rjust(w) if k == 4 else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths)))


def _answer(answer: object) -> str:
    return ", ".join(map(str, answer)) if isinstance(answer, (list, tuple)) else str(answer)


def main(include_slow: bool = True, out: TextIO = sys.stdout) -> int:
    """Run the claim checks behind the key (and every other registered one), print the table; return the exit status."""
    started = time.perf_counter()
    key = load_key()
    registry: dict[str, Claim] = load_all()
    behind_key: list[str] = []
    question_of: dict[str, str] = {}
    for item in key.items:
        behind_key += [cid for cid in item.checks if cid not in behind_key]
        question_of.update({cid: item.question for cid in item.checks if cid not in question_of})
    missing = [cid for cid in behind_key if cid not in registry]
    order = [cid for cid in behind_key if cid in registry] + [cid for cid in registry if cid not in behind_key]

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    width = max([30] + [len(cid) for cid in behind_key + order])
    say(f"simgrade --verify: {len(behind_key)} claims behind the answer key ({len(missing)} not registered), "
        f"{len(order) - len(behind_key) + len(missing)} others registered"
        f"{'' if include_slow else '; slow claims skipped (--quick)'}")
    say("A claim is verified when it holds under its premise AND its negative control (a broken premise) fails.")
    say("kind: symbolic proof (exact) > property over generated inputs > experiment over n seeds (evidence); "
        "staff answer: no machine check.")
    say("STAFF PREDICTION (measurement contradicts: ...): a staff prediction the data do not support; reported, "
        "it does not fail the run.")
    say()
    header = _row(["question", "claim", "method", "verdict", "seconds"], width) + "  statement"
    say(header)
    say("-" * len(header))

    verdicts: dict[str, Verdict] = {}
    skipped: list[str] = []
    for cid in order:
        c = registry[cid]
        if c.slow and not include_slow:
            skipped.append(cid)
            say(_row([c.question, cid, c.method, "skipped", "-"], width) + "  " + _shorten(c.statement, STATEMENT_WIDTH))
            say(f"{'':10}kind: {_strength(c)}; slow: run without --quick")
            continue
        v = verdicts[cid] = verify(c)
        label = v.label + ("" if cid in behind_key else " *")
        seconds = f"{v.holds.seconds + v.control.seconds:.1f}"
        say(_row([c.question, cid, c.method, label, seconds], width) + "  " + _shorten(c.statement, STATEMENT_WIDTH))
        say(f"{'':10}kind: {_strength(c)}")
        holds = "holds" if v.holds.passed else "measured, against the prediction" if v.contradicted else "FAILS"
        say(f"{'':10}{holds}: {_shorten(v.holds.evidence or '(no evidence returned)', EVIDENCE_WIDTH)}")
        if v.control.passed:
            control = "PASSED (the check cannot fail: it proves nothing)"
        elif not v.control.asserted:
            control = "CRASHED (it failed before its assertion: it proves nothing)"
        else:
            control = "fails as it should" if v.holds.passed or v.contradicted else "fails too"
        say(f"{'':10}control ({_shorten(c.control, 80)}) {control}: "
            f"{_shorten(v.control.evidence or '(no evidence returned)', EVIDENCE_WIDTH)}")
    for cid in missing:
        say(_row([question_of[cid], cid, "-", "MISSING", "-"], width) + "  named by the answer key; no check registers it")
    if any(cid not in behind_key for cid in verdicts):
        say("* not referenced by the answer key")

    say()
    say("Answer key")
    say(f"{'question':8}  {'field':20}  {'answer':24}  basis")
    bad_items = 0
    counts = {"verified": 0, "staff": 0, "skipped": 0, "contradicted": 0}
    for item in key.items:
        if item.basis == "staff" and not item.checks:
            status = "staff answer (no machine check possible)"
            counts["staff"] += 1
        else:
            problems, contradicted = [], []
            for cid in item.checks:
                if cid in missing:
                    problems.append(f"{cid} missing")
                elif cid in skipped:
                    problems.append(f"{cid} skipped")
                elif verdicts[cid].contradicted:
                    contradicted.append(f"{cid}: {verdicts[cid].holds.contradicted}")
                elif not verdicts[cid].verified:
                    problems.append(f"{cid} {verdicts[cid].label}")
            confirmed = [cid for cid in item.checks if cid in verdicts and verdicts[cid].verified]
            if contradicted and not problems:
                status = "STAFF PREDICTION, the measurement contradicts it: " + "; ".join(contradicted)
                if confirmed:
                    status += "; verified by " + ", ".join(confirmed)
                counts["contradicted"] += 1
            elif not problems:
                status = "verified by " + ", ".join(
                    f"{cid} ({kind(registry[cid])}{'; staff prediction, confirmed by the measurement' if registry[cid].prediction else ''})"
                    for cid in item.checks)
                counts["verified"] += 1
            elif all(p.endswith("skipped") for p in problems):
                status = "not run (slow): " + ", ".join(problems)
                counts["skipped"] += 1
            else:
                status = "NOT VERIFIED: " + ", ".join(problems)
                bad_items += 1
        say(f"{item.question:8}  {item.field:20}  {_shorten(_answer(item.answer), 24):24}  {status}")

    key_failures = [cid for cid in behind_key if cid in verdicts and not verdicts[cid].ok]
    other_failures = [cid for cid, v in verdicts.items() if cid not in behind_key and not v.ok]
    contradicted = [cid for cid, v in verdicts.items() if v.contradicted]
    say()
    say(f"claims: {sum(v.verified for v in verdicts.values())} verified, {len(contradicted)} staff prediction"
        f"{'s' if len(contradicted) != 1 else ''} contradicted by the measurement, "
        f"{len(key_failures) + len(other_failures)} not verified, {len(missing)} missing, {len(skipped)} skipped; "
        f"key items: {counts['verified']} verified, {counts['contradicted']} staff prediction"
        f"{'s' if counts['contradicted'] != 1 else ''} contradicted by the measurement, {counts['staff']} staff-basis, "
        f"{counts['skipped']} not run, {bad_items} NOT verified ({time.perf_counter() - started:.1f} s)")
    if other_failures:
        say("not behind the key (does not change the exit status): " + ", ".join(other_failures))
    if contradicted:
        say("STAFF PREDICTIONS the measurement contradicts (reported; they do not change the exit status): "
            + "; ".join(f"{cid} ({verdicts[cid].holds.contradicted})" for cid in contradicted))
    failed = bool(key_failures or missing)
    if failed:
        say("FAILED: " + ", ".join(key_failures + missing))
    elif any(cid in behind_key for cid in contradicted):
        n = sum(cid in behind_key for cid in contradicted)
        say(f"OK: every claim behind the key is verified, except {n} staff prediction"
            f"{'s' if n != 1 else ''} the measurement contradicts (listed above)")
    else:
        say("OK: every claim behind the key is verified")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(include_slow="--quick" not in sys.argv))
