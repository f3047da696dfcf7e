-- model: sla_open_clocks
-- stage: sla
-- reads: sla_obligations
-- materialized: temp
-- This batch's rows of `sla_open_clocks` (contract §3): every clock still running at the batch end,
-- with the hours left until it is due (a right's window still open counts too). The SLA stage
-- replaces the batch's rows of the work database's table with these.
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id, clock_id,
       sla_id, shop_id, entity_id, started_at, due_at,
       (epoch_us(due_at) - epoch_us(as_of)) / 3600000000.0 AS hours_left,
       rule_id, rule_version, market, program, stage, due_local_date
FROM sla_obligations
WHERE status = 'open'
ORDER BY shop_id, sla_id, due_at, entity_id
