"""Policy engine (tracker issue #3): case assembly, rule evaluation, evidence, decisions, explanations.

The pipeline calls `score_batch(work_db, batch_date, run_id, rules_dir) -> ScoringSummary`;
preflight calls `validate_policy_packs(rules_dir)`; what-if replay calls
`rescore_case_features(work_db, batch_date, run_id, rules_dir)` on stored case features.
"""

from aftersales.policy.score import ScoringSummary, rescore_case_features, score_batch, validate_policy_packs

__all__ = ["ScoringSummary", "rescore_case_features", "score_batch", "validate_policy_packs"]
