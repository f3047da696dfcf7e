-- model: int_sla_rule_days
-- stage: sla
-- reads: sla_clock_rules, business_calendar
-- materialized: temp
-- One row per (clock rule row that counts days, calendar day of its market): the local due day and
-- the local clock time it falls at, for a clock starting that day. The clocks then need one small
-- equi-join instead of two calendar joins each. `business_calendar` (market, day,
-- is_business_day, bd_index = running count of business days) comes from
-- `aftersales.sla.market_calendar`; "the N-th business day after D" is the business day whose
-- index is bd_index(D) + N. due_time NULL = the start's own local time. Units (contract §4):
--   calendar_days      start date + amount, at `at` or the start's time
--   business_days      the amount-th business day after the start date (counted from the next
--                      business day when the start is on a non-business day, then at 00:00), at
--                      `at` or the start's time
--   next_business_day  the first business day after the start date, at `at`
--   next_weekday       the first `weekday` after the start date, at `at`
-- (`hours` clocks need no calendar: see sla_obligations.)
WITH starts AS (
    SELECT r.rule_idx, r.market, r.unit, r.amount, r.weekday, r.at_time, bs.day, bs.is_business_day,
           -- the business-day index of the due day, for the units counted in business days
           bs.bd_index + CASE r.unit
                           WHEN 'business_days'
                             THEN CAST(r.amount AS INTEGER) + CAST(NOT bs.is_business_day AS INTEGER)
                           WHEN 'next_business_day' THEN 1
                         END AS due_bd_index
    FROM sla_clock_rules AS r
    JOIN business_calendar AS bs ON bs.market = r.market
    WHERE r.unit <> 'hours'
)
SELECT s.rule_idx, s.day AS start_date,
       CASE s.unit
         WHEN 'calendar_days' THEN s.day + CAST(s.amount AS INTEGER)
         WHEN 'next_weekday' THEN s.day + CAST((s.weekday - isodow(s.day) + 6) % 7 + 1 AS INTEGER)
         ELSE bd.day
       END AS due_day,
       CASE WHEN s.at_time IS NOT NULL THEN s.at_time
            WHEN s.unit = 'business_days' AND NOT s.is_business_day THEN TIME '00:00:00'
       END AS due_time
FROM starts AS s
LEFT JOIN business_calendar AS bd
  ON bd.market = s.market AND bd.bd_index = s.due_bd_index AND bd.is_business_day
