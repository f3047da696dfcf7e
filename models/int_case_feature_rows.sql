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
    SELECT case_id,
           list(struct_pack(party, evidence_type, uploaded_time, file_size_bytes, sha256, is_valid)
                ORDER BY uploaded_time, party, evidence_type, sha256) AS items
    FROM int_case_evidence_items GROUP BY case_id
) e USING (case_id)
