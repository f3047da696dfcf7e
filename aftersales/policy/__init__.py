"""Policy engine (tracker issue #3): case assembly, rule evaluation, evidence, decisions, explanations.

The pipeline calls `score_batch(work_db, batch_date, run_id, rules_dir) -> ScoringSummary`;
preflight calls `validate_policy_packs(rules_dir)`; what-if replay calls
`rescore_case_features(work_db, batch_date, run_id, rules_dir)` on stored case features.

The entry points are imported lazily, so that importing a light module of the package (the
feature names in `features`, the expression validator) does not load the scoring stage with
Great Expectations and pandas.
"""

__all__ = ["ScoringSummary", "rescore_case_features", "score_batch", "validate_policy_packs"]


def __getattr__(name: str):
    if name in __all__:
        from aftersales.policy import score

        return getattr(score, name)
    raise AttributeError(f"module 'aftersales.policy' has no attribute {name!r}")
