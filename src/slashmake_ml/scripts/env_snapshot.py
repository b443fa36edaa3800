"""Write an environment snapshot (python, libraries, devices): the setup step on a pod."""

from __future__ import annotations

from slashmake_ml.cli import env_snapshot, main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--env", required=True, help="output: JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    import os

    from slashmake_ml.fileio import write_json, write_metrics

    snap = env_snapshot()
    try:
        import torch

        snap["cuda_available"] = torch.cuda.is_available()
        snap["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        snap["cuda_available"] = False
    snap["cpu_count"] = os.cpu_count()
    write_json(a.env, snap)
    print(f"env: python {snap['python']}, cuda={snap['cuda_available']}")
    write_metrics(
        a.metrics,
        {"cuda_available": bool(snap["cuda_available"]), "cpu_count": snap["cpu_count"] or 0, "ready": True},
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
