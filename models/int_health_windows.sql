-- model: int_health_windows
-- stage: health
-- reads: stg_shops, health_rules
-- materialized: temp
-- One row per (shop, health metric): the rule in force for the shop's market and program
-- (`health_rules`, loaded from rules/<pack>/health.yaml for the batch date) and its trailing
-- window of `window_days` shop-local days ending with the batch date, as of 24:00 local (contract
-- §1). Every metric model counts within these windows; every shop gets every metric.
SELECT s.shop_id, s.market, s.program, s.timezone,
       timezone(s.timezone, CAST(CAST($batch_date AS DATE) + 1 AS TIMESTAMP)) AS as_of,
       r.* EXCLUDE (market, program),
       CAST($batch_date AS DATE) - (r.window_days - 1) AS window_start,
       CAST($batch_date AS DATE) AS window_end
FROM stg_shops AS s JOIN health_rules AS r USING (market, program)
