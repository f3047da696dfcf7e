-- model: int_case_feature_rows
-- stage: score
-- reads: int_case_features, int_case_evidence_items
-- materialized: temp
-- One row per judged case as `case_features` stores it: every feature in its own typed column
-- plus the case's evidence items (no file names), so a replay can re-judge the case and
-- re-check its evidence later (`policy.case_restore`); the stage adds batch_date and run_id.
SELECT c.*, coalesce(e.items, []) AS evidence_detail
FROM int_case_features c
LEFT JOIN (
    -- numbered by one window sort, each case's short list then sorted by that number: an
    -- ordered list() aggregate sorts every case's items on its own (2.5x the CPU)
    SELECT case_id, list_transform(list_sort(list(item)), x -> x.item) AS items
    FROM (
        SELECT case_id,
               {'position': row_number() OVER (
                    PARTITION BY case_id
                    ORDER BY uploaded_time, party, evidence_type, sha256, file_size_bytes, is_valid),
                'item': struct_pack(party, evidence_type, uploaded_time, file_size_bytes, sha256, is_valid)} AS item
        FROM int_case_evidence_items
    )
    GROUP BY case_id
) e USING (case_id)
