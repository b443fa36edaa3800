"""Performance test: inference latency p50/p99 of a model (.pt checkpoint or .pt2 export);
tests_pass when outputs are valid and p99 <= --max-p99-ms."""

from __future__ import annotations

from slashmake_ml.cli import main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-runs", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--max-p99-ms", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml.fileio import write_metrics
    from slashmake_ml.ops import latency_test

    m = latency_test(a.model, a.n_runs, a.batch, a.max_p99_ms, a.threads)
    print(f"performance: p50={m['p50_ms']:.2f} ms p99={m['p99_ms']:.2f} ms tests_pass={m['tests_pass']}")
    write_metrics(a.metrics, m)
    return 0


if __name__ == "__main__":
    main_guard(main)
