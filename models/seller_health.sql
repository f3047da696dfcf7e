-- model: seller_health
-- stage: health
-- reads: int_health_windows, int_health_sfcr, int_health_ldr, int_health_chat_reply_rate, int_health_sfrr
-- materialized: temp
-- This batch's rows of `seller_health` (policy.md §I): one row per shop and metric (sfcr, ldr,
-- chat_reply_rate, sfrr: see the int_health_* models), its value as a fraction (0.025 = 2.5 %) and
-- status. `no_data` (value NULL) when the metric has no denominator in its window (nothing
-- measured is not the same as meeting the target); `ok` when the value meets `target` as written
-- ("<= 0.025" vs "< 0.025"); otherwise `breach` when the rule has no `breach` band or the value is
-- in it, else `warning`. The health stage replaces the batch's rows of the work database's table.
WITH measured AS (
    SELECT * FROM int_health_sfcr
    UNION ALL SELECT * FROM int_health_ldr
    UNION ALL SELECT * FROM int_health_chat_reply_rate
    UNION ALL SELECT * FROM int_health_sfrr
), valued AS (
    SELECT w.*, coalesce(m.numerator, 0) AS numerator, coalesce(m.denominator, 0) AS denominator,
           CAST(m.numerator AS DOUBLE) / nullif(m.denominator, 0) AS value
    FROM int_health_windows AS w LEFT JOIN measured AS m USING (shop_id, metric)
)
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id, shop_id, metric, value,
       target_value AS threshold, window_days,
       CASE WHEN value IS NULL THEN 'no_data'
            WHEN CASE target_op WHEN '<' THEN value < target_value WHEN '<=' THEN value <= target_value
                                WHEN '>' THEN value > target_value WHEN '>=' THEN value >= target_value END
              THEN 'ok'
            WHEN breach_op IS NULL
              OR CASE breach_op WHEN '<' THEN value < breach_value WHEN '<=' THEN value <= breach_value
                                WHEN '>' THEN value > breach_value WHEN '>=' THEN value >= breach_value END
              THEN 'breach'
            ELSE 'warning' END AS status,
       numerator, denominator, market, rule_id, rule_version,
       target_op AS comparison, breach_value AS breach_threshold
FROM valued
ORDER BY shop_id, metric
