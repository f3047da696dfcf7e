"""SLA clocks and seller health (tracker issue #4).

The pipeline calls exactly these two stage functions (docs/ARCHITECTURE.md):

    compute_sla(work_db, batch_date, run_id, rules_dir) -> SlaSummary
        writes sla_breaches and sla_open_clocks
    compute_seller_health(work_db, batch_date, run_id, rules_dir) -> HealthSummary
        writes seller_health

Business-day calendars for other stages: `aftersales.sla.calendar`.
"""

from aftersales.sla.breaches import SlaSummary, compute_sla
from aftersales.sla.health import HealthSummary, compute_seller_health

__all__ = ["HealthSummary", "SlaSummary", "compute_seller_health", "compute_sla"]
