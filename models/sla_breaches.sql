-- model: sla_breaches
-- stage: sla
-- reads: sla_obligations
-- materialized: temp
-- This batch's rows of `sla_breaches` (contract §3): every obligation met late or unmet past its
-- due time, and every right exercised after its window closed. The SLA stage replaces the batch's
-- rows of the work database's table with these. breach_id is the obligation's clock_id, stable
-- across runs and batches (an open clock that later breaches keeps its id).
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id, clock_id AS breach_id,
       sla_id, shop_id, entity_id, started_at, due_at, met_at,
       (epoch_us(coalesce(met_at, as_of)) - epoch_us(due_at)) / 3600000000.0 AS overdue_hours,
       rule_id, rule_version, market, program, stage, due_local_date
FROM sla_obligations
WHERE status IN ('met_late', 'unmet_overdue')
ORDER BY shop_id, sla_id, due_at, entity_id
