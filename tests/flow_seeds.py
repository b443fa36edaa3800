"""The seed chains of the language reference (docs/language.md, "Examples"), shared by the tests.

``test_parser.test_the_language_reference_shows_the_seed_chains_and_macros`` checks this copy
against the reference.
"""

from __future__ import annotations

# The chain in the introduction of the language reference.
INTRO_CHAIN = "/init → /data-validate → /ml-train → /ml-evaluate → /if:accuracy>0.87 → /ml-deploy → /else → /hyperparameter-tune"

# "The seed's chains, which must parse and mean what they read".
SEED_CHAINS = [
    "/init → /data-validate → /ml-train → /ml-evaluate → /if:acc>0.87 → /ml-deploy",
    "/runpod-experiment parallel[sigma-0.10 | sigma-0.12 | sigma-0.15] → /results:aggregate",
    "/analyze → $model_score=0.87 → /if:$model_score>0.85 → /deploy → /else → /optimize",
    "/analyze-data → $data_quality=<result> → /if:$data_quality>0.8 → /ml-train → /else → /data-cleanup",
    "/try:/train → /catch:training-failed → /fallback:use-backup → /else → /continue",
    "/try:/deploy → /catch:deployment-failed → /rollback → /notify-team → /retry-deployment",
    "/train-with-retry:3:backoff=300 → /if:success → /deploy → /else → /escalate",
    "parallel[ml-production-engineer:analyze-model-architecture | data-infrastructure-engineer:validate-data-pipeline"
    " | ml-observability-monitoring-engineer:setup-monitoring] → /aggregate:analysis-results → /plan:next-steps",
    "/data-infrastructure-engineer:data-quality-check → /ml-production-engineer:model-optimization"
    " → /ml-observability-monitoring-engineer:monitoring-setup",
    "/monitor-performance → /if:drift-detected → /data-refresh → /retrain → /evaluate → /if:better-performance"
    " → /deploy → /monitor → /else → /continue-monitoring",
    "/runpod-hpo --parameters sigma:0.10,0.12,0.15 --parallel 4",
    "/ml-train --model simple_lstm --device cuda --epochs 60",
]

# "The seed's named workflows, as macros": name -> flow.
SEED_MACROS = {
    "/ml-pipeline-full": "/init → /data-validate → /feature-engineer → /ml-train → /ml-evaluate → /if:accuracy>0.87"
    " → /ml-deploy → /else → /hyperparameter-tune → /retrain",
    "/runpod-hpo-parallel": "/runpod-setup → parallel[/train:sigma-0.10 | /train:sigma-0.12 | /train:sigma-0.15"
    " | /train:sigma-0.20] → /results:aggregate → /best-model:select → /if:best-acc>0.90 → /deploy → /else"
    " → /analyze-failures",
    "/deploy-production": "/code-review → /security-scan → /performance-test → /runpod-staging → /if:tests-pass"
    " → /runpod-production → /monitor-setup → /else → /rollback",
    "/continuous-training": "/monitor-performance → /if:drift-detected → /data-refresh → /retrain → /evaluate"
    " → /if:better-performance → /deploy → /monitor → /else → /continue-monitoring",
    "/lstm-pretraining-full": "/data-validate → /preprocess-time-series → /pretrain-bilstm → /fine-tune-simplelstm"
    " → /evaluate → /if:acc>0.87 → /deploy → /benchmark",
    "/pretraining-complete": "/preprocess → /pretrain → /fine-tune → /evaluate → /deploy",
    "/parallel-analysis": "parallel[ml-production-engineer:analyze-model-architecture"
    " | data-infrastructure-engineer:validate-data-pipeline | ml-observability-monitoring-engineer:setup-monitoring]"
    " → /aggregate:analysis-results → /plan:next-steps",
}

ALL_SEEDS = [INTRO_CHAIN, *SEED_CHAINS, *SEED_MACROS.values()]
