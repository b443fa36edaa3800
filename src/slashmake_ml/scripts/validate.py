"""Validate long-schema OHLC files with pandera; print bad rows and exit 1 on failure.

data_quality = share of windows that pass every check (over all files).
"""

from __future__ import annotations

import sys

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--data", nargs="+", required=True, help="input file(s): .parquet or .csv")
    ap.add_argument("--report", help="output: JSON report with every bad row")
    ap.add_argument("--metrics", help="output: metrics JSON (data_quality, n_bad_rows, ...)")
    ap.add_argument(
        "--max-bad-fraction", type=float, default=0.0, help="fail when more than this share of windows is bad"
    )
    ap.add_argument("--max-print", type=int, default=20)
    a = ap.parse_args()

    from slashmake_ml.data import read_table
    from slashmake_ml.fileio import write_json, write_metrics
    from slashmake_ml.validate import validate_frame

    bad: list[dict[str, object]] = []
    n_windows = bad_windows = n_rows = 0
    for path in a.data:
        rep = validate_frame(read_table(path))
        n_windows += rep.n_windows
        n_rows += rep.n_rows
        bad_windows += rep.bad_windows
        bad += [{"file": path, **b} for b in rep.bad]
        print(f"{path}: {rep.n_windows} windows, {rep.n_rows} rows, {len(rep.bad)} failed checks")
    quality = 1.0 - bad_windows / max(n_windows, 1)
    failed = bool(bad) and (1.0 - quality) > a.max_bad_fraction
    if bad:
        print("bad rows (file, window_id, t, check):", file=sys.stderr)
        for b in bad[: a.max_print]:
            print(
                f"  {b['file']}  window_id={b['window_id']}  t={b['t']}  check={b['check']}", file=sys.stderr
            )
        if len(bad) > a.max_print:
            print(f"  ... and {len(bad) - a.max_print} more (see the report)", file=sys.stderr)
    if a.report:
        write_json(a.report, {"files": a.data, "n_windows": n_windows, "n_rows": n_rows, "bad": bad})
    if failed:
        print(
            f"error: validation failed: data_quality={quality:.4f} ({bad_windows} bad windows of {n_windows})",
            file=sys.stderr,
        )
        return 1
    if a.metrics:
        write_metrics(
            a.metrics,
            {
                "data_quality": quality,
                "n_windows": n_windows,
                "n_rows": n_rows,
                "n_bad_windows": bad_windows,
                "n_bad_rows": len(bad),
                "valid": not bad,
            },
        )
    return 0


if __name__ == "__main__":
    main_guard(main)
