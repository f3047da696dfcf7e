-- model: int_case_evidence_items
-- stage: score
-- reads: stg_evidence, int_case_joined
-- materialized: temp
-- One row per evidence item of a judged case, with only what completeness needs (no file
-- names): the GX evidence suite and `case_features.evidence_detail` read it.
SELECT e.case_id, lower(trim(e.submitted_by)) AS party, lower(trim(e.evidence_type)) AS evidence_type,
       e.uploaded_time, e.file_size_bytes, e.sha256, e.is_valid
FROM stg_evidence e
WHERE e.case_id IN (SELECT case_id FROM int_case_joined)
