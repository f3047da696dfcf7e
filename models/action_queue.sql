-- model: action_queue
-- stage: action_queue
-- reads: stg_shops, aq_pack, sla_open_clocks, aq_window_kind, evidence_gaps, rulings, aq_label, aq_text, aq_stage, aq_rule
-- materialized: temp
-- This batch's rows of `action_queue`: everything a seller can still act on as of the batch end
-- (24:00 of the batch date in each shop's zone, contract §1), one row per thing to do, by deadline:
-- open SLA clocks of the seller's obligations due within the horizon (`$horizon_us`, from
-- rules/action_queue.yaml); appeal windows still open, with the evidence the case's rules still ask
-- the seller for (`evidence_gaps`); dispute windows still open; evidence a party must still upload,
-- due after the batch end. Every deadline was computed from rules/ by the SLA and scoring stages;
-- this model only selects, words (`aq_text`, `aq_stage`, `aq_label`: wording loaded by
-- `aftersales.actions.queue`) and orders them, and adds the rule's source and citation (`aq_rule`,
-- `aq_pack`). The stage replaces the batch's rows of the work database's table with these.
WITH shop AS (
    SELECT s.shop_id, s.market, s.timezone, p.pack_id,
           timezone(s.timezone, (CAST($batch_date AS DATE) + 1)::TIMESTAMP) AS batch_end
    FROM stg_shops s LEFT JOIN aq_pack p ON p.market = s.market AND p.program = s.program
), clock AS (
    SELECT c.shop_id, c.entity_id, coalesce(w.kind, c.sla_id) AS action_kind, 'seller' AS party,
           c.sla_id, c.stage, c.due_at, c.rule_id, c.rule_version, c.entity_id AS case_id
    FROM sla_open_clocks c
    JOIN shop s USING (shop_id)
    LEFT JOIN aq_window_kind w ON w.sla_id = c.sla_id
    WHERE c.batch_date = $batch_date AND c.due_at >= s.batch_end
      AND (w.kind IS NOT NULL OR c.due_at <= s.batch_end + to_microseconds(CAST($horizon_us AS BIGINT)))
), gap AS (
    SELECT r.shop_id, g.case_id, g.party, g.evidence_type, g.due_at, g.rule_id,
           el.en || coalesce(' (or: ' || (SELECT string_agg(a.en, ', ' ORDER BY a.code)
                                           FROM aq_label a
                                           WHERE a.kind = 'evidence' AND a.code <> g.evidence_type
                                             AND list_contains(g.accepted_types, a.code)) || ')', '') AS what_en,
           el.zh || coalesce('（或：' || (SELECT string_agg(a.zh, '、' ORDER BY a.code)
                                          FROM aq_label a
                                          WHERE a.kind = 'evidence' AND a.code <> g.evidence_type
                                            AND list_contains(g.accepted_types, a.code)) || '）', '') AS what_zh
    FROM evidence_gaps g
    JOIN rulings r ON r.case_id = g.case_id AND r.batch_date = g.batch_date AND r.run_id = g.run_id
    JOIN aq_label el ON el.kind = 'evidence' AND el.code = g.evidence_type
    WHERE g.batch_date = $batch_date AND g.run_id = $run_id AND g.gap_kind IN ('missing', 'invalid')
      AND g.due_at IS NOT NULL
), open_gap AS (
    SELECT g.* FROM gap g JOIN shop s USING (shop_id) WHERE g.due_at > s.batch_end
), appeal_evidence AS (
    SELECT case_id, string_agg(what_en, '; ' ORDER BY evidence_type) AS ev_en,
           string_agg(what_zh, '；' ORDER BY evidence_type) AS ev_zh
    FROM gap WHERE party = 'seller' GROUP BY case_id
), action AS (
    SELECT c.shop_id, c.entity_id, c.action_kind, c.party, c.sla_id, c.stage, NULL::VARCHAR AS evidence_type,
           c.due_at, c.rule_id, c.rule_version,
           replace(replace(replace(t.en, '{entity}', c.entity_id), '{stage}', st.en),
                   '{evidence}', coalesce(ae.ev_en, $no_ev_en)) AS action_en,
           replace(replace(replace(t.zh, '{entity}', c.entity_id), '{stage}', st.zh),
                   '{evidence}', coalesce(ae.ev_zh, $no_ev_zh)) AS action_zh
    FROM clock c
    JOIN aq_text t ON t.kind = c.action_kind
    LEFT JOIN aq_stage st ON st.stage IS NOT DISTINCT FROM c.stage
    LEFT JOIN appeal_evidence ae ON ae.case_id = c.case_id
    UNION ALL
    SELECT g.shop_id, g.case_id, 'evidence', g.party, NULL, NULL, g.evidence_type, g.due_at, g.rule_id, NULL,
           replace(replace(replace(t.en, '{entity}', g.case_id), '{evidence}', g.what_en), '{party}', pl.en),
           replace(replace(replace(t.zh, '{entity}', g.case_id), '{evidence}', g.what_zh), '{party}', pl.zh)
    FROM open_gap g
    JOIN aq_label pl ON pl.kind = 'party' AND pl.code = g.party
    JOIN aq_text t ON t.kind = CASE WHEN g.party = 'seller' THEN 'evidence_seller' ELSE 'evidence_other' END
)
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id,
       a.shop_id, a.entity_id, a.action_kind, a.action_en, a.action_zh,
       strftime(timezone(s.timezone, a.due_at), '%Y-%m-%d %H:%M') || ' ' || s.timezone AS due_at_local,
       a.due_at AS due_at_utc,
       (epoch_us(a.due_at) - epoch_us(s.batch_end)) / 3600000000.0 AS hours_left,
       a.rule_id,
       coalesce(a.rule_version, rs.version) AS rule_version,
       rs.source || coalesce(': ' || nullif(rs.citation, ''), '') AS source, rs.source AS source_key,
       rs.citation AS source_citation,
       a.party, a.sla_id, a.stage, a.evidence_type, s.market, s.timezone AS shop_timezone,
       CAST(timezone(s.timezone, a.due_at) AS DATE) AS due_local_date
FROM action a
JOIN shop s USING (shop_id)
LEFT JOIN (
    SELECT * FROM aq_rule
    QUALIFY row_number() OVER (PARTITION BY pack_id, rule_id ORDER BY in_force DESC, version DESC) = 1
) rs_any ON rs_any.pack_id = s.pack_id AND rs_any.rule_id = a.rule_id AND a.rule_version IS NULL
LEFT JOIN aq_rule rs ON rs.pack_id = s.pack_id AND rs.rule_id = a.rule_id
                    AND rs.version = coalesce(a.rule_version, rs_any.version)
ORDER BY due_at_utc, a.shop_id, a.action_kind, a.entity_id, a.evidence_type
