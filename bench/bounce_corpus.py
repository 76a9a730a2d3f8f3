"""Check mailer.bounces.parse_dsn against the sisimai bounce corpus in ../shared.

Usage: .venv/bin/python bench/bounce_corpus.py [--samples DIR] [--json OUT] [--flufl]

The three figures that matter: files with the right number of failed recipients, hard calls
where sisimai says soft (a wrong suppression), and the recall of sisimai's hard bounces. Any
folder laid out like ../shared/samples/bounces (*.eml and an expected.json) can be given.
--flufl also counts the files in which flufl.bounce (GNU Mailman's detectors, if installed)
finds the right number of failed recipients, for comparison.
Exits 1 if a target is missed, 0 (with a message) if the samples folder is absent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailer.bounces import parse_dsn  # noqa: E402  (needs the repo on sys.path first)

DEFAULT_SAMPLES = REPO.parent / "shared" / "samples" / "bounces"
DEFAULT_JSON = REPO / "bench" / "results" / "bounce_corpus.json"
STATUS_TARGET = 0.95
RECALL_TARGET = 0.85
# The corpus README counts either sisimai's refined code or the message's literal Status field
# as right; the literal fields are read straight from the file, in order.
_STATUS_FIELD = re.compile(r"^Status:\s*(\d\.\d{1,3}\.\d{1,3})", re.IGNORECASE | re.MULTILINE)


def check(samples: Path) -> dict[str, Any]:
    """Run parse_dsn over every .eml in samples and score it against expected.json."""
    expected: dict[str, Any] = json.loads((samples / "expected.json").read_text())
    files = sorted(samples.glob("*.eml"))
    report: dict[str, Any] = {
        "files": len(files),
        "count_ok": 0,
        "entries": 0,
        "status_ok": 0,
        "status_exact": 0,
        "hard_expected": 0,
        "hard_caught": 0,
        "false_hard": 0,
        "mismatches": [],
        "problems": {},
    }
    for path in files:
        raw = path.read_bytes()
        parsed = parse_dsn(raw)
        got = parsed.recipients
        if parsed.problems:
            report["problems"][path.name] = parsed.problems
        want = expected.get(path.name, {}).get("expected", [])
        literal = _STATUS_FIELD.findall(raw.decode("latin-1"))
        if len(got) == len(want):
            report["count_ok"] += 1
        else:
            report["mismatches"].append(f"{path.name}: {len(got)} recipients, expected {len(want)}")
        for i, entry in enumerate(want):
            report["entries"] += 1
            mine = got[i] if i < len(got) else None
            status = mine.status if mine else None
            accepted = {entry["status"]} | ({literal[i]} if i < len(literal) else set())
            if status in accepted:
                report["status_ok"] += 1
            else:
                report["mismatches"].append(
                    f"{path.name}[{i}]: status {status}, expected {sorted(accepted)}"
                    f" ({entry['reason']})"
                )
            report["status_exact"] += status == entry["status"]
            hard = mine is not None and mine.hard
            if entry["hard"]:
                report["hard_expected"] += 1
                report["hard_caught"] += hard
                if not hard:
                    report["mismatches"].append(
                        f"{path.name}[{i}]: soft, sisimai says hard ({entry['reason']})"
                    )
            elif hard:
                report["false_hard"] += 1
                report["mismatches"].append(
                    f"{path.name}[{i}]: HARD, sisimai says soft ({entry['reason']})"
                )
    return report


def flufl_counts(samples: Path) -> int | None:
    """Files in which flufl.bounce finds the expected number of failed recipients."""
    try:
        from flufl.bounce import all_failures
    except ImportError:
        return None
    import email

    expected: dict[str, Any] = json.loads((samples / "expected.json").read_text())
    right = 0
    for path in sorted(samples.glob("*.eml")):
        temporary, permanent = all_failures(email.message_from_bytes(path.read_bytes()))
        want = expected.get(path.name, {}).get("expected", [])
        right += len(set(temporary) | set(permanent)) == len(want)
    return right


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def main(argv: list[str] | None = None) -> int:
    """Print the corpus scores, write them as JSON and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--flufl", action="store_true", help="compare with flufl.bounce")
    args = parser.parse_args(argv)
    samples: Path = args.samples
    if not (samples / "expected.json").is_file():
        print(f"samples folder {samples} not found; nothing to check")
        return 0
    r = check(samples)
    status_rate = _ratio(r["status_ok"], r["entries"])
    recall = _ratio(r["hard_caught"], r["hard_expected"])
    checks = [
        ("files", f"{r['files']}", True),
        (
            "right number of failed recipients",
            f"{r['count_ok']}/{r['files']}",
            r["count_ok"] == r["files"],
        ),
        (
            "entries with the right status",
            f"{r['status_ok']}/{r['entries']} ({status_rate:.1%}, target >= {STATUS_TARGET:.0%})",
            status_rate >= STATUS_TARGET,
        ),
        ("  of which equal to sisimai's code", f"{r['status_exact']}/{r['entries']}", True),
        ("hard where sisimai says soft", f"{r['false_hard']} (must be 0)", r["false_hard"] == 0),
        (
            "recall on sisimai's hard bounces",
            f"{r['hard_caught']}/{r['hard_expected']} "
            f"({recall:.1%}, target >= {RECALL_TARGET:.0%})",
            recall >= RECALL_TARGET,
        ),
    ]
    if args.flufl:
        flufl = flufl_counts(samples)
        r["flufl_count_ok"] = flufl
        shown = "not installed" if flufl is None else f"{flufl}/{r['files']}"
        checks.append(("  flufl.bounce: right number of recipients", shown, True))
    width = max(len(name) for name, _, _ in checks)
    for name, value, ok in checks:
        print(f"{name:<{width}}  {value:<40} {'ok' if ok else 'MISSED'}")
    if r["mismatches"]:
        print("\nmismatches:")
        for line in r["mismatches"]:
            print(f"  {line}")
    passed = all(ok for _, _, ok in checks)
    r.update(status_rate=status_rate, hard_recall=recall, passed=passed, samples=str(samples))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(r, indent=2) + "\n")
    print(f"\n{'all targets met' if passed else 'TARGETS MISSED'}; wrote {args.json}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
