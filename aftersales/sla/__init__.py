"""SLA clocks and seller health (tracker issue #4).

The pipeline calls exactly these two stage functions (docs/ARCHITECTURE.md):

    compute_sla(work_db, batch_date, run_id, rules_dir) -> SlaSummary
        writes sla_breaches, sla_open_clocks and sla_met_on_time, and leaves sla_obligations and
        sla_orders in the work database (declared outputs for the health stage, never published)
    compute_seller_health(work_db, batch_date, run_id, rules_dir) -> HealthSummary
        writes seller_health from them; a missing input is an error naming the table

Their SQL is in `models/` (stages `sla` and `health`); where an SLA due time is computed:
`models/sla_obligations.sql`. Clock and health rules are parsed from rules/ by `clocks` and
`health_rules`. Business-day calendars for other stages: `aftersales.sla.market_calendar`.
"""

from aftersales.sla.breaches import SlaSummary, compute_sla
from aftersales.sla.health import HealthSummary, compute_seller_health

__all__ = ["HealthSummary", "SlaSummary", "compute_seller_health", "compute_sla"]
