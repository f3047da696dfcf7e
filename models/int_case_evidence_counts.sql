-- model: int_case_evidence_counts
-- stage: score
-- reads: int_case_evidence_items, int_case_joined
-- materialized: temp
-- One row per case with evidence: items uploaded by the cutoff, the invalid ones, and valid
-- on-time items per (party, evidence type) of the contract vocabulary (the ev_* features).
-- MATERIALIZED: validity (a regex) is computed once per item; inlined, it would be
-- re-evaluated inside each of the ~50 filtered counts below.
WITH e AS MATERIALIZED (
    SELECT e.case_id, e.party, e.evidence_type,
           evidence_item_valid(e.is_valid, e.file_size_bytes, e.sha256) AS valid,
           e.uploaded_time IS NOT NULL AND e.uploaded_time <= j.cutoff_time AS on_time
    FROM int_case_evidence_items e JOIN int_case_joined j ON j.case_id = e.case_id
)
SELECT e.case_id,
       count(*) FILTER (WHERE on_time) AS evidence_items,
       count(*) FILTER (WHERE on_time AND NOT valid) AS evidence_invalid_items,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'photo' AND valid AND on_time) AS ev_buyer_photo,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'video' AND valid AND on_time) AS ev_buyer_video,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'unboxing_video' AND valid AND on_time) AS ev_buyer_unboxing_video,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'tracking' AND valid AND on_time) AS ev_buyer_tracking,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'proof_of_delivery' AND valid AND on_time) AS ev_buyer_proof_of_delivery,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'chat_screenshot' AND valid AND on_time) AS ev_buyer_chat_screenshot,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'listing_snapshot' AND valid AND on_time) AS ev_buyer_listing_snapshot,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'invoice' AND valid AND on_time) AS ev_buyer_invoice,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'lab_report' AND valid AND on_time) AS ev_buyer_lab_report,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'awb_photo' AND valid AND on_time) AS ev_buyer_awb_photo,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'packing_photo' AND valid AND on_time) AS ev_buyer_packing_photo,
       count(*) FILTER (WHERE party = 'buyer' AND evidence_type = 'comparison_photo' AND valid AND on_time) AS ev_buyer_comparison_photo,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'photo' AND valid AND on_time) AS ev_seller_photo,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'video' AND valid AND on_time) AS ev_seller_video,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'unboxing_video' AND valid AND on_time) AS ev_seller_unboxing_video,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'tracking' AND valid AND on_time) AS ev_seller_tracking,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'proof_of_delivery' AND valid AND on_time) AS ev_seller_proof_of_delivery,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'chat_screenshot' AND valid AND on_time) AS ev_seller_chat_screenshot,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'listing_snapshot' AND valid AND on_time) AS ev_seller_listing_snapshot,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'invoice' AND valid AND on_time) AS ev_seller_invoice,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'lab_report' AND valid AND on_time) AS ev_seller_lab_report,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'awb_photo' AND valid AND on_time) AS ev_seller_awb_photo,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'packing_photo' AND valid AND on_time) AS ev_seller_packing_photo,
       count(*) FILTER (WHERE party = 'seller' AND evidence_type = 'comparison_photo' AND valid AND on_time) AS ev_seller_comparison_photo,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'photo' AND valid AND on_time) AS ev_carrier_photo,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'video' AND valid AND on_time) AS ev_carrier_video,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'unboxing_video' AND valid AND on_time) AS ev_carrier_unboxing_video,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'tracking' AND valid AND on_time) AS ev_carrier_tracking,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'proof_of_delivery' AND valid AND on_time) AS ev_carrier_proof_of_delivery,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'chat_screenshot' AND valid AND on_time) AS ev_carrier_chat_screenshot,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'listing_snapshot' AND valid AND on_time) AS ev_carrier_listing_snapshot,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'invoice' AND valid AND on_time) AS ev_carrier_invoice,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'lab_report' AND valid AND on_time) AS ev_carrier_lab_report,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'awb_photo' AND valid AND on_time) AS ev_carrier_awb_photo,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'packing_photo' AND valid AND on_time) AS ev_carrier_packing_photo,
       count(*) FILTER (WHERE party = 'carrier' AND evidence_type = 'comparison_photo' AND valid AND on_time) AS ev_carrier_comparison_photo,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'photo' AND valid AND on_time) AS ev_platform_photo,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'video' AND valid AND on_time) AS ev_platform_video,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'unboxing_video' AND valid AND on_time) AS ev_platform_unboxing_video,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'tracking' AND valid AND on_time) AS ev_platform_tracking,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'proof_of_delivery' AND valid AND on_time) AS ev_platform_proof_of_delivery,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'chat_screenshot' AND valid AND on_time) AS ev_platform_chat_screenshot,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'listing_snapshot' AND valid AND on_time) AS ev_platform_listing_snapshot,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'invoice' AND valid AND on_time) AS ev_platform_invoice,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'lab_report' AND valid AND on_time) AS ev_platform_lab_report,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'awb_photo' AND valid AND on_time) AS ev_platform_awb_photo,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'packing_photo' AND valid AND on_time) AS ev_platform_packing_photo,
       count(*) FILTER (WHERE party = 'platform' AND evidence_type = 'comparison_photo' AND valid AND on_time) AS ev_platform_comparison_photo
FROM e
GROUP BY e.case_id
