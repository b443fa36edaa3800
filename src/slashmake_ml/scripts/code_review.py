"""Code review with ruff: JSON report of issues; passed when issues <= --max-issues."""

from __future__ import annotations

from pathlib import Path

import slashmake_ml
from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    # the ML package itself, wherever it is installed (src/slashmake_ml/ in this repository)
    ap.add_argument("--paths", nargs="+", default=[str(Path(slashmake_ml.__file__).parent)])
    ap.add_argument("--max-issues", type=int, default=0)
    ap.add_argument("--report", required=True)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.ops import code_review

    m, issues = code_review(a.paths, a.max_issues)
    write_json(a.report, {"paths": a.paths, "issues": issues})
    print(f"code review: {m['n_issues']} issues; passed={m['passed']}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
