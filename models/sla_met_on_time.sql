-- model: sla_met_on_time
-- stage: sla
-- reads: sla_obligations
-- materialized: temp
-- This batch's obligations met by their due time, which neither contract table holds: the input
-- the analyst views use for on-time rates. The SLA stage replaces the batch's rows of the work
-- database's table with these.
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id, clock_id,
       sla_id, shop_id, entity_id, started_at, due_at, met_at,
       rule_id, rule_version, market, program, stage, due_local_date
FROM sla_obligations
WHERE status = 'met_on_time'
ORDER BY shop_id, sla_id, due_at, entity_id
