-- model: int_sla_shops
-- stage: sla
-- reads: stg_shops
-- materialized: temp
-- One row per listed shop with its as-of instant: the end of the batch date (24:00) in the shop's
-- own zone (contract §1). Every event of the SLA stage exists only if it happened by then, so
-- re-running an old date on a later export gives the same answer.
SELECT shop_id, market, program, timezone, chatbots_enabled,
       timezone(timezone, CAST(CAST($batch_date AS DATE) + 1 AS TIMESTAMP)) AS as_of
FROM stg_shops
