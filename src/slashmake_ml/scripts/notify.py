"""Notify the team: append to a notifications JSONL log and POST to the webhook in
$SLASHMAKE_WEBHOOK_URL when it is set (the URL never comes from parameters)."""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--message", default="slashmake flow notification")
    ap.add_argument("--level", default="info")
    ap.add_argument(
        "--log", default="results/notifications.jsonl", help="shared notifications log (appended)"
    )
    ap.add_argument("--context", nargs="*", default=[], help="metrics JSON files whose keys are attached")
    ap.add_argument("--receipt", help="output: receipt JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import read_json, write_json, write_metrics
    from slashmake_ml.ops import notify

    extra: dict[str, object] = {}
    for p in a.context:
        if Path(p).exists():
            extra.update({k: v for k, v in read_json(p).items() if isinstance(v, int | float | str | bool)})
    res = notify(a.message, a.log, a.level, {"context": extra} if extra else None)
    if a.receipt:
        write_json(a.receipt, {**res, "message": a.message, "log": str(Path(a.log).resolve())})
    print(f"notify: logged to {a.log}; webhook posted={res['posted']}")
    write_metrics(a.metrics, {k: v for k, v in res.items() if not isinstance(v, dict)})
    return 0


if __name__ == "__main__":
    main_guard(main)
