-- model: sla_obligations
-- stage: sla
-- reads: int_sla_clocks, int_sla_subjects, int_sla_shops, int_sla_rule_days, sla_clock_rules
-- One row per SLA clock that started by the batch end: its rule, start, due time, how it ended and
-- its status as of the end of the batch date in the shop's zone (contract §1). The SLA stage's
-- result tables and the health stage's clock-based metrics read it (a declared output of the SLA
-- stage, kept in the work database, never published).
--
-- WHERE AN SLA DUE TIME IS COMPUTED: `due_at` below. Elapsed-hours clocks add the hours to the
-- start instant; day-based clocks take the local due day and clock time of `int_sla_rule_days`
-- (calendar days, business days on the market calendar, next business day, next weekday) in the
-- shop's zone, at the start's own local time unless the rule sets `at`. Durations are the rules'
-- (`rules/<pack>/sla.yaml`, parsed by `aftersales.sla.clocks` into `sla_clock_rules`).
--
-- met_at / void_at: the earliest of the rule's end / void events that happened (the event columns
-- of `int_sla_subjects`; every end and void event of `clocks.SLA_CATALOGUE` is listed).
-- Status:
--   obligation (the seller must act)        right_window (a party may act until it closes)
--   met_on_time   met at or before due       exercised at or before the close
--   met_late      met after due   -> breach  exercised after the close -> breach
--   unmet_overdue unmet, due < as_of -> breach
--   lapsed        -                          not exercised and closed: the party's choice, no breach
--   open          unmet, due >= as_of (for a window: still open)
--   void          a void event (order cancelled, request decided by the platform, cancellation
--                 auto-approved) came before due and nothing met the clock before it
-- Exactly at the due instant counts as met. clock_id is a hash of (sla_id, shop_id, entity_id,
-- started_at[, stage]): the same obligation keeps its id across reruns and batches.
WITH rules AS (
    SELECT *,
           list_contains(end_events, 'order_rts') AS ends_order_rts,
           list_contains(end_events, 'order_shipped') AS ends_order_shipped,
           list_contains(end_events, 'seller_response') AS ends_seller_response,
           list_contains(end_events, 'seller_inspection') AS ends_seller_inspection,
           list_contains(end_events, 'seller_reply') AS ends_seller_reply,
           list_contains(end_events, 'appeal_submitted') AS ends_appeal_submitted,
           list_contains(end_events, 'buyer_dispute') AS ends_buyer_dispute,
           list_contains(void_events, 'order_cancelled') AS voids_order_cancelled,
           list_contains(void_events, 'refund') AS voids_refund,
           list_contains(void_events, 'platform_decision') AS voids_platform_decision,
           list_contains(void_events, 'cancelled') AS voids_cancelled
    FROM sla_clock_rules
), timed AS (
    SELECT sub.shop_id, sub.entity_id, c.rule_idx, c.started_at, s.timezone, s.market, s.program, s.as_of,
           CASE WHEN r.unit = 'hours'
                THEN c.started_at + to_microseconds(CAST(round(r.amount * 3600000000) AS BIGINT))
                ELSE shop_local(s.timezone, d.due_day + coalesce(d.due_time, CAST(c.start_local AS TIME)))
           END AS due_at,
           least(CASE WHEN r.ends_order_rts THEN sub.order_rts END,
                 CASE WHEN r.ends_order_shipped THEN sub.order_shipped END,
                 CASE WHEN r.ends_seller_response THEN sub.seller_response END,
                 CASE WHEN r.ends_seller_inspection THEN sub.seller_inspection END,
                 CASE WHEN r.ends_seller_reply THEN sub.seller_reply END,
                 CASE WHEN r.ends_appeal_submitted THEN sub.appeal_submitted END,
                 CASE WHEN r.ends_buyer_dispute THEN sub.buyer_dispute END) AS met_at,
           least(CASE WHEN r.voids_order_cancelled THEN sub.order_cancelled END,
                 CASE WHEN r.voids_refund THEN sub.refund END,
                 CASE WHEN r.voids_platform_decision THEN sub.platform_decision END,
                 CASE WHEN r.voids_cancelled THEN sub.cancelled END) AS void_at
    FROM int_sla_clocks AS c
    JOIN int_sla_subjects AS sub USING (subject_id)
    JOIN int_sla_shops AS s ON s.shop_id = sub.shop_id
    JOIN rules AS r ON r.rule_idx = c.rule_idx
    LEFT JOIN int_sla_rule_days AS d ON d.rule_idx = c.rule_idx AND d.start_date = c.start_date
)
SELECT CAST($batch_date AS DATE) AS batch_date,
       left(sha256(concat_ws('|', r.sla_id, t.shop_id, t.entity_id, CAST(epoch_us(t.started_at) AS VARCHAR),
                             r.stage)), 32) AS clock_id,
       t.shop_id, r.entity_kind, t.entity_id, r.sla_id, r.stage, r.semantics, t.market, t.program,
       t.started_at, t.due_at, CAST(shop_local(t.timezone, t.due_at) AS DATE) AS due_local_date,
       t.met_at, t.void_at, t.as_of, r.rule_id, r.rule_version, r.end_events,
       CASE
         WHEN t.void_at IS NOT NULL AND t.void_at < t.due_at
              AND (t.met_at IS NULL OR t.met_at > t.void_at) THEN 'void'
         WHEN t.met_at IS NOT NULL AND t.met_at <= t.due_at THEN 'met_on_time'
         WHEN t.met_at IS NOT NULL THEN 'met_late'
         WHEN t.due_at < t.as_of
           THEN CASE r.semantics WHEN 'right_window' THEN 'lapsed' ELSE 'unmet_overdue' END
         ELSE 'open'
       END AS status
FROM timed AS t
JOIN sla_clock_rules AS r USING (rule_idx)
