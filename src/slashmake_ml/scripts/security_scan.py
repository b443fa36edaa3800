"""Security scan with bandit (offline): JSON report; passed when no issue at or above --fail-on."""

from __future__ import annotations

from pathlib import Path

import slashmake_ml
from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    # the ML package itself, wherever it is installed (src/slashmake_ml/ in this repository)
    ap.add_argument("--paths", nargs="+", default=[str(Path(slashmake_ml.__file__).parent)])
    ap.add_argument("--fail-on", choices=["LOW", "MEDIUM", "HIGH"], default="HIGH")
    ap.add_argument("--report", required=True)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.ops import security_scan

    m, report = security_scan(a.paths, a.fail_on)
    write_json(a.report, report)
    print(f"security scan: high={m['high']} medium={m['medium']} low={m['low']}; passed={m['passed']}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
