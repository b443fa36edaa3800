"""Deploy a checkpoint to the model registry: torch.export (.pt2) + state_dict + model card,
published atomically as the next numbered version, tracked with DVC and pushed to the local
remote. Deploying the same weights again makes no new version (recorded as a no-op)."""

from __future__ import annotations

from pathlib import Path

from slashmake_ml.cli import boolean, main_guard, parser


def main() -> int:
    """CLI entry point."""
    ap = parser(__doc__)
    ap.add_argument("--model", required=True, help="input: checkpoint .pt")
    ap.add_argument("--eval-metrics", help="input: evaluation metrics JSON, copied into the model card")
    ap.add_argument("--registry", default="registry")
    ap.add_argument("--dvc-remote", default="dvc-remote", help="local DVC remote folder; empty = no DVC")
    ap.add_argument("--model-name", default="simple_lstm")
    ap.add_argument("--stage", default="production")
    ap.add_argument(
        "--smoke-test",
        type=boolean,
        default=False,
        help="load the exported program and check it matches the checkpoint",
    )
    ap.add_argument("--record", help="output: deployment record JSON")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    from slashmake_ml import registry as reg
    from slashmake_ml.fileio import read_json, write_json, write_metrics

    ev = read_json(a.eval_metrics) if a.eval_metrics else None
    res = reg.publish(a.registry, a.model_name, a.model, ev, a.dvc_remote or None, a.stage)
    if a.smoke_test:
        res.update(smoke_test(Path(a.registry) / a.model_name / res["version"]))
    print(
        f"deploy: {a.model_name} {res['version']} new_version={res['new_version']} noop={res['noop']} dvc_pushed={res['dvc_pushed']}"
    )
    if a.record:
        write_json(a.record, {**res, "registry": str(Path(a.registry).resolve()), "model_name": a.model_name})
    write_metrics(a.metrics, res)
    return 0


def smoke_test(version_dir: Path) -> dict[str, object]:
    """The exported program must reproduce the checkpoint's logits."""
    import torch

    from slashmake_ml.model import load_checkpoint

    model, _ = load_checkpoint(str(version_dir / "state_dict.pt"))
    prog = torch.export.load(str(version_dir / "model.pt2")).module()
    x = torch.randn(3, 105, model.cfg.n_features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ok = bool(torch.allclose(model(x), prog(x), atol=1e-5))
    return {"tests_pass": ok, "smoke_test": ok}


if __name__ == "__main__":
    main_guard(main)
