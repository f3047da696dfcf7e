"""Calibration (issue #16): recommended rulings measured against what the platform decided.

`point_in_time` picks every case the platform decided and the stored case features it had just
before the decision (leak-proofed; `rebuild` rebuilds them from the exports when none were
stored), `outcomes` maps the platform's statuses onto the decision vocabulary and keeps outcome columns away from rules, `agreement` computes agreement, Cohen's
kappa, the confusion matrix and confidence calibration with intervals, `run` ties them together
and publishes `calibration_runs`, `calibration_cases` and `calibration_summary` into the warehouse.
"""
