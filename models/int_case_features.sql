-- model: int_case_features
-- stage: score
-- reads: int_case_facts, policy_pack_scope, policy_mall_shop, policy_price_band, policy_reason_class, policy_cancel_class
-- materialized: temp
-- One row per judged case with every feature (the table rule conditions read): int_case_facts
-- plus the features that depend on pack settings (pack, Mall status, price band, reason
-- classes). The policy_* tables are the packs' settings, loaded from rules/ before the stage
-- runs; a re-judge (`case_restore`) rebuilds int_case_facts from stored rows and runs only this.
SELECT f.* REPLACE (
           ps.pack_id AS pack_id,
           ms.shop_id IS NOT NULL AS is_mall,
           CASE WHEN pb.pivot_price IS NULL OR f.item_price IS NULL THEN NULL
                WHEN f.item_price > pb.pivot_price THEN 'high'
                WHEN f.item_price < pb.pivot_price THEN 'low'
                ELSE pb.pivot_band END AS price_band,
           CASE WHEN f.reason_code IS NULL THEN NULL ELSE coalesce(rc.cls, 'unclassified') END AS reason_class,
           CASE WHEN f.cancel_reason_code IS NULL THEN NULL
                ELSE coalesce(cc.cls, 'unclassified') END AS cancel_reason_class)
FROM int_case_facts f
-- settings tables are reduced to one row per key so that a case is never repeated
LEFT JOIN (SELECT market, program, min(pack_id) AS pack_id FROM policy_pack_scope GROUP BY ALL) ps
       ON ps.market = f.market AND ps.program = f.program
LEFT JOIN (SELECT DISTINCT pack_id, shop_id FROM policy_mall_shop) ms
       ON ms.pack_id = ps.pack_id AND ms.shop_id = f.shop_id
LEFT JOIN (SELECT pack_id, min(pivot_price) AS pivot_price, min(pivot_band) AS pivot_band
           FROM policy_price_band GROUP BY ALL) pb ON pb.pack_id = ps.pack_id
LEFT JOIN (SELECT pack_id, code, min(cls) AS cls FROM policy_reason_class GROUP BY ALL) rc
       ON rc.pack_id = ps.pack_id AND rc.code = f.reason_code
LEFT JOIN (SELECT pack_id, code, min(cls) AS cls FROM policy_cancel_class GROUP BY ALL) cc
       ON cc.pack_id = ps.pack_id AND cc.code = f.cancel_reason_code
