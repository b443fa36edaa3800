"""Record a status note (e.g. "no drift; keep monitoring") as the step's output."""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--message", required=True)
    ap.add_argument("--note", required=True, help="output: JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    import time

    from slashmake_ml.fileio import write_json, write_metrics

    write_json(a.note, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "message": a.message})
    print(a.message)
    write_metrics(a.metrics, {"ok": True})
    return 0


if __name__ == "__main__":
    main_guard(main)
