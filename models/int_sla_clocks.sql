-- model: int_sla_clocks
-- stage: sla
-- reads: int_sla_subjects, int_sla_shops, sla_clock_rules
-- materialized: temp
-- One row per clock that started: a start event of an entity joined with the clock rule in force
-- on the start's shop-local date (`sla_clock_rules`, loaded from rules/<pack>/sla.yaml, one row per
-- rule version, market, program and band). Per entity and (sla_id, stage) the first matching band
-- of the newest version wins. Only integers and instants travel through the window.
-- The UNPIVOT lists every start event of the clock vocabulary (`clocks.SLA_CATALOGUE`).
WITH starts AS (
    SELECT u.subject_id, u.entity_kind, u.event, u.started_at, u.item_price, u.order_type,
           s.market, s.program, s.chatbots_enabled, shop_local(s.timezone, u.started_at) AS start_local
    FROM (UNPIVOT (SELECT subject_id, shop_id, entity_kind, item_price, order_type,
                          order_paid, order_created, request_created, return_delivered, seller_rejected,
                          buyer_cancel_requested, appeal_available, refund, buyer_wait_started
                   FROM int_sla_subjects WHERE entity_id IS NOT NULL)
          ON order_paid, order_created, request_created, return_delivered, seller_rejected,
             buyer_cancel_requested, appeal_available, refund, buyer_wait_started
          INTO NAME event VALUE started_at) AS u
    JOIN int_sla_shops AS s USING (shop_id)
), dated AS (
    SELECT *, CAST(start_local AS DATE) AS start_date FROM starts
)
SELECT st.subject_id, r.rule_idx, st.started_at, st.start_local, st.start_date
FROM dated AS st
JOIN sla_clock_rules AS r
  ON r.market = st.market AND r.program = st.program AND r.entity_kind = st.entity_kind
 AND r.start_event = st.event
 AND r.effective_from <= st.start_date AND (r.effective_to IS NULL OR st.start_date < r.effective_to)
WHERE (r.order_types IS NULL
       OR list_contains(r.order_types, lower(coalesce(nullif(trim(st.order_type), ''), 'normal'))))
  -- an unknown price satisfies no price condition: such rows fall through to the default band
  AND coalesce((r.price_lt IS NULL OR st.item_price < r.price_lt)
               AND (r.price_lte IS NULL OR st.item_price <= r.price_lte)
               AND (r.price_gt IS NULL OR st.item_price > r.price_gt)
               AND (r.price_gte IS NULL OR st.item_price >= r.price_gte), FALSE)
  AND (r.start_isodows IS NULL OR list_contains(r.start_isodows, isodow(st.start_date)))
  AND (r.chatbots_enabled IS NULL OR r.chatbots_enabled = st.chatbots_enabled)
-- one clock per entity and (sla_id, stage): the first matching band of the newest version (an
-- entity can meet two versions through different start events, e.g. VN appeal v1 from the refund
-- and v2 from the appeal's availability, when the two fall either side of the change)
QUALIFY row_number() OVER (PARTITION BY st.subject_id, r.clock_key
                           ORDER BY r.effective_from DESC, r.band_rank) = 1
