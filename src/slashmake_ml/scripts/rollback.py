"""Roll the registry back to the version before CURRENT, verified by sha256 (restored from the
DVC remote if its files are missing)."""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--registry", default="registry")
    ap.add_argument("--model-name", default="simple_lstm")
    ap.add_argument("--record", help="output: rollback record JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml import registry as reg
    from slashmake_ml.fileio import write_json, write_metrics

    res = reg.rollback(a.registry, a.model_name)
    print(f"rollback: {res}")
    if a.record:
        write_json(a.record, res)
    write_metrics(a.metrics, res)
    return 0


if __name__ == "__main__":
    main_guard(main)
