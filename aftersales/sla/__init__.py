"""SLA clocks and seller health (tracker issue #4).

The pipeline calls exactly these two stage functions (docs/ARCHITECTURE.md):

    compute_sla(work_db, batch_date, run_id, rules_dir) -> SlaSummary
        writes sla_breaches and sla_open_clocks
    compute_seller_health(work_db, batch_date, run_id, rules_dir) -> HealthSummary
        writes seller_health

The SLA stage keeps the obligations it built in the work database (`sla_work_*` tables, never
published); the health stage reads them, or rebuilds them when they were built for another batch
date, rule set or staging content (see `aftersales.sla.obligations`).

Business-day calendars for other stages: `aftersales.sla.market_calendar`.
"""

from aftersales.sla.breaches import SlaSummary, compute_sla
from aftersales.sla.health import HealthSummary, compute_seller_health

__all__ = ["HealthSummary", "SlaSummary", "compute_seller_health", "compute_sla"]
