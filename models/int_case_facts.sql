-- model: int_case_facts
-- stage: score
-- reads: int_case_joined, int_buyer_prior_requests, int_case_evidence_counts
-- materialized: temp
-- One row per judged case with every feature a rule condition may read, before the pack
-- settings are applied (int_case_features). This file IS the feature catalogue: each output
-- column carries `-- TYPE: meaning` beside its SQL (aftersales/case_columns.py reads it), so
-- adding a feature is one line here. Export labels become codes here (first matching pattern
-- wins; order matters): which codes are seller- or buyer-fault is policy, in rules/. The five
-- features that depend on pack settings (pack_id, is_mall, price_band, reason_class,
-- cancel_reason_class) are NULL here: int_case_features sets them.
-- Local times go through `shop_local(zone, ts)` (= `timezone(zone, ts)`, with the batch's zones as
-- constants: policy/cases.py) and business days through `bd_elapsed` (policy/business_days.py).
WITH b AS (
    SELECT j.*,
           coalesce(j.line_shipped_time, j.order_shipped_time) AS shipped_time,
           coalesce(j.line_delivered_time, j.order_delivered_time) AS delivered_time,
           j.seller_response_time IS NOT NULL AND j.seller_response_time <= j.cutoff_time AS seller_responded,
           j.buyer_dispute_time IS NOT NULL AND j.buyer_dispute_time <= j.cutoff_time AS disputed,
           j.appeal_submitted_time IS NOT NULL AND j.appeal_submitted_time <= j.cutoff_time AS appeal_submitted,
           CASE WHEN j.return_reason IS NULL OR trim(j.return_reason) = '' THEN NULL
                WHEN regexp_matches(lower(j.return_reason), 'counterfeit|fake|not authentic|inauthentic|replica') THEN 'counterfeit'
                WHEN regexp_matches(lower(j.return_reason), 'not received|never (arrived|received)|did not receive|didn''t receive|\blost\b|not delivered') THEN 'not_received'
                WHEN regexp_matches(lower(j.return_reason), '\blate\b|delay|too long|overdue') THEN 'late_delivery'
                WHEN regexp_matches(lower(j.return_reason), 'wrong (item|product)|different (item|product)|incorrect (item|product)') THEN 'wrong_item'
                WHEN regexp_matches(lower(j.return_reason), 'missing|empty (package|parcel|box)|incomplete') THEN 'missing_parts'
                WHEN regexp_matches(lower(j.return_reason), 'defective|doesn''t work|does not work|not working|malfunction|faulty') THEN 'defective'
                WHEN regexp_matches(lower(j.return_reason), 'damaged|broken|crushed|dented|leak|shattered') THEN 'package_damaged'
                WHEN regexp_matches(lower(j.return_reason), 'match|not as described|description|inconsistent|different from') THEN 'not_as_described'
                WHEN regexp_matches(lower(j.return_reason), 'quality|torn|stain|expired|mou?ld|smell|allerg') THEN 'poor_quality'
                WHEN regexp_matches(lower(j.return_reason), 'size|too (big|small|large|tight|loose)|\bfit\b') THEN 'wrong_size'
                WHEN regexp_matches(lower(j.return_reason), 'no longer|change(d)?( of| my)? mind|mistake|don''t want|do not want|not needed|cheaper|better price|unwanted') THEN 'no_longer_needed'
                ELSE 'other' END AS reason_code,
           CASE WHEN j.cancel_reason IS NULL OR trim(j.cancel_reason) = '' THEN NULL
                WHEN regexp_matches(lower(j.cancel_reason), 'out of stock|no stock|sold out|insufficient stock') THEN 'out_of_stock'
                WHEN regexp_matches(lower(j.cancel_reason), 'pric(e|ing) error|wrong pric|incorrect pric|mispric') THEN 'pricing_error'
                WHEN regexp_matches(lower(j.cancel_reason), 'fail(ed)? to (ship|hand ?over|prepare|fulfil)|unable to (ship|fulfil|deliver)|not (handed over|collected)|auto.?cancel|logistics (status )?not updated|seller did not ship|shipping overdue') THEN 'failed_to_ship'
                WHEN regexp_matches(lower(j.cancel_reason), 'estimated delivery|\bedd\b|not delivered by|not arrived by|not received by') THEN 'not_delivered_by_edd'
                WHEN regexp_matches(lower(j.cancel_reason), '\blost\b|damaged (in transit|en route)|carrier|logistics (issue|problem)') THEN 'lsp_lost_damaged'
                WHEN regexp_matches(lower(j.cancel_reason), 'late ship|\blate\b|takes too long|took too long|delay|not shipped|slow') THEN 'late_shipment'
                WHEN regexp_matches(lower(j.cancel_reason), 'unpaid|payment (timeout|not completed|failed|expired)|not paid') THEN 'unpaid'
                WHEN regexp_matches(lower(j.cancel_reason), 'fraud|\brisk|illegal|suspicious|experience protection') THEN 'fraud'
                WHEN regexp_matches(lower(j.cancel_reason), 'payment method') THEN 'payment_change'
                WHEN regexp_matches(lower(j.cancel_reason), 'address') THEN 'address_change'
                WHEN regexp_matches(lower(j.cancel_reason), 'buyer(''s)? request|requested by (the )?buyer|agreement|agreed with') THEN 'buyer_request'
                WHEN regexp_matches(lower(j.cancel_reason), 'no longer|change(d)?( of| my)? mind|mistake|don''t want|do not want|duplicate|cheaper|better price|change (the )?(item|order|colou?r|size|quantity)') THEN 'changed_mind'
                ELSE 'other' END AS cancel_reason_code,
           CASE WHEN j.seller_reject_reason IS NULL OR trim(j.seller_reject_reason) = '' THEN NULL
                WHEN regexp_matches(lower(j.seller_reject_reason), 'wrong item returned|different item returned|not the (original|same) item|item swapped') THEN 'wrong_item_returned'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'return (package |parcel |item )?(not|never) (received|arrived)|did not receive the return|not received') THEN 'return_not_received'
                WHEN regexp_matches(lower(j.seller_reject_reason), '\bused\b|\bworn\b|damaged by (the )?buyer|not in (its )?(original|sellable|resellable) condition|seal broken|unsellable|not resellable|tampered') THEN 'returned_used'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'out of stock|no stock|sold out') THEN 'out_of_stock'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'packed|already shipped|has been shipped|handed over|in transit|shipped') THEN 'product_packed'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'agree|agreement|negotiat') THEN 'agreement_with_buyer'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'unable to change (the )?address|change (the )?address') THEN 'buyer_address_error'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'wrong address|incorrect address') THEN 'buyer_wrong_address'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'r&r|return and refund|need to return|apply for return') THEN 'need_return'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'item is correct|correct item|as described|matches (the )?(listing|description)') THEN 'item_correct'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'separate|multiple packages|another package') THEN 'separate_packages'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'authentic|genuine') THEN 'authentic'
                WHEN regexp_matches(lower(j.seller_reject_reason), 'delivered|proof of delivery|received by (the )?buyer|signed') THEN 'delivered'
                ELSE 'other' END AS seller_reject_code
    FROM int_case_joined j
),
-- The instants elapsed-time features measure to: each clock stops at the event, else at the
-- request (order milestones) or at the batch cutoff (what is still open).
c AS (
    SELECT b.*,
           coalesce(b.paid_time, b.created_time) AS order_time,
           CASE WHEN b.shipped_time <= b.anchor_time THEN b.shipped_time ELSE b.anchor_time END AS handover_ref,
           CASE WHEN b.rts_time <= b.anchor_time THEN b.rts_time
                WHEN b.shipped_time <= b.anchor_time THEN b.shipped_time ELSE b.anchor_time END AS rts_ref,
           CASE WHEN b.delivered_time <= b.anchor_time THEN b.delivered_time ELSE b.anchor_time END AS delivered_ref,
           CASE WHEN b.seller_responded THEN b.seller_response_time ELSE b.cutoff_time END AS response_end,
           least(CASE WHEN b.seller_responded THEN b.seller_response_time END,
                 CASE WHEN b.return_shipped_time <= b.cutoff_time THEN b.return_shipped_time END,
                 b.cutoff_time) AS review_end,
           CASE WHEN b.disputed THEN b.buyer_dispute_time ELSE b.cutoff_time END AS dispute_end,
           CASE WHEN b.appeal_submitted THEN b.appeal_submitted_time ELSE b.cutoff_time END AS appeal_end,
           CASE WHEN b.return_delivered_time <= b.cutoff_time THEN b.return_delivered_time
                ELSE b.cutoff_time END AS received_ref,
           -- inspection is done at the first of: inspection time, a seller response or refund after receipt
           least(CASE WHEN b.seller_inspection_time <= b.cutoff_time THEN b.seller_inspection_time END,
                 CASE WHEN b.seller_response_time >= b.return_delivered_time AND b.seller_responded
                      THEN b.seller_response_time END,
                 CASE WHEN b.refund_time >= b.return_delivered_time AND b.refund_time <= b.cutoff_time
                      THEN b.refund_time END,
                 b.cutoff_time) AS inspection_end
    FROM b
)
SELECT
    -- identity and scope
    c.case_id,  -- VARCHAR: Return Order ID, Cancellation ID or Appeal ID
    c.case_kind,  -- VARCHAR: return_refund, replacement, cancellation or appeal
    c.shop_id,  -- VARCHAR: shop of the case
    c.order_id,  -- VARCHAR: order the case is about
    c.market,  -- VARCHAR: shop market (US, UK, TH, VN, ID, MY, PH, SG)
    c.program,  -- VARCHAR: local or cross_border
    NULL::VARCHAR AS pack_id,  -- VARCHAR: rule pack that judges the case
    c.shop_timezone,  -- VARCHAR: IANA zone of the shop
    c.ship_from,  -- VARCHAR: ISO country the shop ships from
    NULL::BOOLEAN AS is_mall,  -- BOOLEAN: shop listed as Mall in the pack's mall_shops setting (exports carry no flag)
    c.request_type,  -- VARCHAR: refund_only, return_and_refund, replacement, partial_refund, cancellation, appeal
    c.requested_remedy,  -- VARCHAR: remedy the request asks for (appeals: the original request's)
    c.request_time,  -- TIMESTAMPTZ: request instant (appeals: submission, else availability)
    shop_local(c.shop_timezone, c.request_time)::DATE AS request_local_date,  -- DATE: shop-local date of the request: selects the rule versions in force
    c.batch_date,  -- DATE: business date being closed
    c.cutoff_time,  -- TIMESTAMPTZ: end of the batch date (24:00) in the shop's zone
    -- order facts (order-level amounts are never summed across SKU lines)
    c.order_found,  -- BOOLEAN: the order appears in the orders export
    c.order_status,  -- VARCHAR: order status
    c.order_type,  -- VARCHAR: Normal or Pre-order
    coalesce(lower(c.order_type) LIKE '%pre%', FALSE) AS is_pre_order,  -- BOOLEAN: pre-order
    c.order_amount,  -- DECIMAL(18,2): order amount (order-level, taken once)
    CASE WHEN c.case_kind = 'cancellation' THEN coalesce(c.line_item_price, c.order_amount)
         ELSE c.line_item_price END AS item_price,  -- DECIMAL(18,2): price of the item in dispute (request Item Price, else SKU line)
    NULL::VARCHAR AS price_band,  -- VARCHAR: low/high around the pack's price_band pivot; NULL if the pack has none
    c.quantity,  -- INTEGER: SKU quantity
    c.product_category,  -- VARCHAR: product category
    c.fulfillment_type,  -- VARCHAR: fulfilment type
    c.shipping_provider,  -- VARCHAR: shipping provider name
    c.package_count::INTEGER AS package_count,  -- INTEGER: distinct packages / tracking numbers of the order
    coalesce(c.line_has_tracking OR c.order_has_tracking, FALSE) AS has_tracking,  -- BOOLEAN: the order (or SKU line) carries a tracking ID
    c.created_time,  -- TIMESTAMPTZ: order created
    c.paid_time,  -- TIMESTAMPTZ: order paid
    c.rts_time,  -- TIMESTAMPTZ: ready to ship
    c.shipped_time,  -- TIMESTAMPTZ: handed to the carrier (first carrier scan)
    c.delivered_time,  -- TIMESTAMPTZ: delivered per tracking
    coalesce(c.delivered_time <= c.anchor_time, FALSE) AS delivered_at_request,  -- BOOLEAN: tracking showed Delivered at the request time
    coalesce(c.shipped_time <= c.anchor_time, FALSE) AS shipped_at_request,  -- BOOLEAN: the order was handed over at the request time
    (date_diff('day', shop_local(c.shop_timezone, c.delivered_time)::DATE, shop_local(c.shop_timezone, c.anchor_time)::DATE))::INTEGER AS days_from_delivered,  -- INTEGER: local calendar days from Delivered to the request
    (epoch(c.anchor_time) - epoch(c.order_time)) / 3600.0 AS hours_from_paid,  -- DOUBLE: elapsed hours from payment to the request
    (epoch(c.anchor_time) - epoch(c.order_time)) / 86400.0 AS days_from_paid,  -- DOUBLE: elapsed days from payment to the request
    (epoch(c.anchor_time) - epoch(c.shipped_time)) / 86400.0 AS days_from_shipped,  -- DOUBLE: elapsed days from handover to the request
    bd_elapsed(c.market, shop_local(c.shop_timezone, c.order_time), shop_local(c.shop_timezone, c.handover_ref)) AS dispatch_bd,  -- DOUBLE: business days from payment to handover (or to the request if not handed over)
    (date_diff('day', shop_local(c.shop_timezone, c.order_time)::DATE, shop_local(c.shop_timezone, c.handover_ref)::DATE))::INTEGER AS dispatch_calendar_days,  -- INTEGER: local calendar days from payment date to handover (or request) date
    (epoch(c.rts_ref) - epoch(c.order_time)) / 3600.0 AS rts_hours,  -- DOUBLE: hours from payment to ready-to-ship (else handover, else the request)
    bd_elapsed(c.market, shop_local(c.shop_timezone, c.order_time), shop_local(c.shop_timezone, c.delivered_ref)) AS delivery_bd,  -- DOUBLE: business days from payment to delivery (or to the request if not delivered)
    -- reasons
    c.return_reason,  -- VARCHAR: platform reason label
    c.reason_code,  -- VARCHAR: normalised reason (no_longer_needed, wrong_size, not_as_described, ...)
    NULL::VARCHAR AS reason_class,  -- VARCHAR: buyer_fault, seller_fault, logistics or unclassified (pack reason_classes)
    -- seller response
    c.seller_decision,  -- VARCHAR: approved, rejected or NULL
    c.seller_reject_reason,  -- VARCHAR: seller reject reason label
    c.seller_reject_code,  -- VARCHAR: normalised reject / cancel-response reason
    c.seller_response_time,  -- TIMESTAMPTZ: seller response
    c.seller_responded,  -- BOOLEAN: seller responded by the batch cutoff
    (epoch(c.response_end) - epoch(c.anchor_time)) / 3600.0 AS seller_response_hours,  -- DOUBLE: elapsed hours from request to response (or cutoff if none)
    bd_elapsed(c.market, shop_local(c.shop_timezone, c.anchor_time), shop_local(c.shop_timezone, c.response_end)) AS seller_response_bd,  -- DOUBLE: business days from request to response (or cutoff): > N means later than N business days (contract §4)
    (date_diff('day', shop_local(c.shop_timezone, c.anchor_time)::DATE,
              CASE WHEN c.seller_responded THEN shop_local(c.shop_timezone, c.seller_response_time)::DATE
                   ELSE c.batch_date END))::INTEGER AS seller_response_days,  -- INTEGER: local calendar days from request date to response (or batch) date
    (epoch(c.review_end) - epoch(c.anchor_time)) / 3600.0 AS review_hours,  -- DOUBLE: elapsed hours from request to the first action on it (seller response, or the buyer shipping the return, which needs an approval) or the cutoff
    bd_elapsed(c.market, shop_local(c.shop_timezone, c.anchor_time), shop_local(c.shop_timezone, c.review_end)) AS review_bd,  -- DOUBLE: business days from request to the first action on it (see review_hours): > N means not acted on within N business days
    (date_diff('day', shop_local(c.shop_timezone, c.anchor_time)::DATE,
              CASE WHEN c.review_end < c.cutoff_time THEN shop_local(c.shop_timezone, c.review_end)::DATE
                   ELSE c.batch_date END))::INTEGER AS review_days,  -- INTEGER: local calendar days from request date to the first action (or batch) date
    -- return flow
    c.return_status,  -- VARCHAR: return status
    c.arbitration_status,  -- VARCHAR: arbitration status
    c.refund_amount,  -- DECIMAL(18,2): refund amount requested / paid
    (c.refund_amount / nullif(c.line_item_price, 0))::DOUBLE AS refund_share,  -- DOUBLE: refund amount / item price
    c.return_shipped_time,  -- TIMESTAMPTZ: buyer shipped the return
    c.return_delivered_time,  -- TIMESTAMPTZ: return parcel back at the seller
    c.seller_inspection_time,  -- TIMESTAMPTZ: seller inspected the return
    c.refund_time,  -- TIMESTAMPTZ: refund paid
    c.buyer_dispute_time,  -- TIMESTAMPTZ: buyer escalated to the platform
    c.platform_decision_time,  -- TIMESTAMPTZ: platform decided
    coalesce(c.has_return_tracking, FALSE) AS has_return_tracking,  -- BOOLEAN: return tracking ID present
    (epoch(c.received_ref) - epoch(c.return_shipped_time)) / 86400.0 AS return_transit_days,  -- DOUBLE: elapsed days from return drop-off to receipt (or cutoff)
    bd_elapsed(c.market, shop_local(c.shop_timezone, c.return_delivered_time), shop_local(c.shop_timezone, c.inspection_end)) AS inspection_bd,  -- DOUBLE: business days from return receipt to inspection (first of inspection, seller response or refund after receipt; else cutoff)
    c.disputed,  -- BOOLEAN: buyer escalated by the cutoff
    CASE WHEN c.seller_decision = 'rejected' THEN (epoch(c.dispute_end) - epoch(c.seller_response_time)) / 86400.0 END AS dispute_days_after_rejection,  -- DOUBLE: elapsed days from the seller's rejection to the dispute (or cutoff)
    CASE WHEN c.seller_decision = 'rejected' THEN (epoch(c.dispute_end) - epoch(c.seller_response_time)) / 3600.0 END AS dispute_hours_after_rejection,  -- DOUBLE: elapsed hours from the seller's rejection to the dispute (or cutoff)
    (date_diff('day', shop_local(c.shop_timezone, c.delivered_time)::DATE, shop_local(c.shop_timezone, c.buyer_dispute_time)::DATE))::INTEGER AS dispute_days_from_delivered,  -- INTEGER: local calendar days from Delivered to the dispute
    -- cancellation
    c.requested_by,  -- VARCHAR: buyer, seller or system
    c.cancel_reason,  -- VARCHAR: cancel reason label
    c.cancel_reason_code,  -- VARCHAR: normalised cancel reason
    NULL::VARCHAR AS cancel_reason_class,  -- VARCHAR: buyer, seller_fault, late_shipment, logistics, platform, unclassified
    c.cancel_status,  -- VARCHAR: cancel status
    coalesce(c.cancelled_time, c.order_cancelled_time) AS cancelled_time,  -- TIMESTAMPTZ: order cancelled
    -- appeal
    c.appeal_type,  -- VARCHAR: contract §2.7 appeal type
    c.appeal_status,  -- VARCHAR: appeal status
    c.appeal_reason,  -- VARCHAR: appeal reason
    c.appeal_available_time,  -- TIMESTAMPTZ: appeal became available
    c.appeal_submitted_time,  -- TIMESTAMPTZ: appeal submitted
    c.appeal_submitted,  -- BOOLEAN: appeal submitted by the cutoff
    c.request_found,  -- BOOLEAN: appeals: the appealed after-sales request is in the exports
    (epoch(c.appeal_end) - epoch(coalesce(c.appeal_available_time, c.platform_decision_time, c.refund_time))) / 86400.0 AS appeal_days_from_available,  -- DOUBLE: elapsed days from availability (else platform decision, else refund) to submission (or cutoff)
    (epoch(c.appeal_end) - epoch(c.refund_time)) / 86400.0 AS appeal_days_from_refund,  -- DOUBLE: elapsed days from refund to submission (or cutoff)
    (epoch(c.received_ref) - epoch(c.refund_time)) / 86400.0 AS return_days_after_refund,  -- DOUBLE: elapsed days from refund to return receipt (or cutoff)
    CASE WHEN c.return_delivered_time IS NULL
              OR c.return_delivered_time > CASE WHEN c.case_kind = 'appeal' THEN c.appeal_end ELSE c.cutoff_time END
         THEN (epoch(CASE WHEN c.case_kind = 'appeal' THEN c.appeal_end ELSE c.cutoff_time END) - epoch(c.return_shipped_time)) / 86400.0 END AS return_days_after_dropoff,  -- DOUBLE: elapsed days from return drop-off to submission/request (or cutoff) while not received
    -- buyer history (keyed pseudonym only)
    c.buyer_pseudonym,  -- VARCHAR: keyed pseudonym of the buyer
    coalesce(pr.prior_requests, 0)::INTEGER AS buyer_prior_requests,  -- INTEGER: earlier after-sales requests by the same buyer pseudonym at the same shop
    -- evidence summary
    coalesce(ev.evidence_items, 0)::INTEGER AS evidence_items,  -- INTEGER: evidence items on the case uploaded by the cutoff
    coalesce(ev.evidence_invalid_items, 0)::INTEGER AS evidence_invalid_items,  -- INTEGER: of which invalid (size 0, malformed SHA-256)
    -- valid on-time evidence items per (party, evidence type): int_case_evidence_counts
    coalesce(ev.ev_buyer_photo, 0)::INTEGER AS ev_buyer_photo,  -- INTEGER: valid photo items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_video, 0)::INTEGER AS ev_buyer_video,  -- INTEGER: valid video items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_unboxing_video, 0)::INTEGER AS ev_buyer_unboxing_video,  -- INTEGER: valid unboxing_video items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_tracking, 0)::INTEGER AS ev_buyer_tracking,  -- INTEGER: valid tracking items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_proof_of_delivery, 0)::INTEGER AS ev_buyer_proof_of_delivery,  -- INTEGER: valid proof_of_delivery items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_chat_screenshot, 0)::INTEGER AS ev_buyer_chat_screenshot,  -- INTEGER: valid chat_screenshot items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_listing_snapshot, 0)::INTEGER AS ev_buyer_listing_snapshot,  -- INTEGER: valid listing_snapshot items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_invoice, 0)::INTEGER AS ev_buyer_invoice,  -- INTEGER: valid invoice items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_lab_report, 0)::INTEGER AS ev_buyer_lab_report,  -- INTEGER: valid lab_report items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_awb_photo, 0)::INTEGER AS ev_buyer_awb_photo,  -- INTEGER: valid awb_photo items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_packing_photo, 0)::INTEGER AS ev_buyer_packing_photo,  -- INTEGER: valid packing_photo items from the buyer uploaded by the cutoff
    coalesce(ev.ev_buyer_comparison_photo, 0)::INTEGER AS ev_buyer_comparison_photo,  -- INTEGER: valid comparison_photo items from the buyer uploaded by the cutoff
    coalesce(ev.ev_seller_photo, 0)::INTEGER AS ev_seller_photo,  -- INTEGER: valid photo items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_video, 0)::INTEGER AS ev_seller_video,  -- INTEGER: valid video items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_unboxing_video, 0)::INTEGER AS ev_seller_unboxing_video,  -- INTEGER: valid unboxing_video items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_tracking, 0)::INTEGER AS ev_seller_tracking,  -- INTEGER: valid tracking items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_proof_of_delivery, 0)::INTEGER AS ev_seller_proof_of_delivery,  -- INTEGER: valid proof_of_delivery items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_chat_screenshot, 0)::INTEGER AS ev_seller_chat_screenshot,  -- INTEGER: valid chat_screenshot items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_listing_snapshot, 0)::INTEGER AS ev_seller_listing_snapshot,  -- INTEGER: valid listing_snapshot items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_invoice, 0)::INTEGER AS ev_seller_invoice,  -- INTEGER: valid invoice items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_lab_report, 0)::INTEGER AS ev_seller_lab_report,  -- INTEGER: valid lab_report items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_awb_photo, 0)::INTEGER AS ev_seller_awb_photo,  -- INTEGER: valid awb_photo items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_packing_photo, 0)::INTEGER AS ev_seller_packing_photo,  -- INTEGER: valid packing_photo items from the seller uploaded by the cutoff
    coalesce(ev.ev_seller_comparison_photo, 0)::INTEGER AS ev_seller_comparison_photo,  -- INTEGER: valid comparison_photo items from the seller uploaded by the cutoff
    coalesce(ev.ev_carrier_photo, 0)::INTEGER AS ev_carrier_photo,  -- INTEGER: valid photo items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_video, 0)::INTEGER AS ev_carrier_video,  -- INTEGER: valid video items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_unboxing_video, 0)::INTEGER AS ev_carrier_unboxing_video,  -- INTEGER: valid unboxing_video items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_tracking, 0)::INTEGER AS ev_carrier_tracking,  -- INTEGER: valid tracking items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_proof_of_delivery, 0)::INTEGER AS ev_carrier_proof_of_delivery,  -- INTEGER: valid proof_of_delivery items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_chat_screenshot, 0)::INTEGER AS ev_carrier_chat_screenshot,  -- INTEGER: valid chat_screenshot items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_listing_snapshot, 0)::INTEGER AS ev_carrier_listing_snapshot,  -- INTEGER: valid listing_snapshot items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_invoice, 0)::INTEGER AS ev_carrier_invoice,  -- INTEGER: valid invoice items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_lab_report, 0)::INTEGER AS ev_carrier_lab_report,  -- INTEGER: valid lab_report items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_awb_photo, 0)::INTEGER AS ev_carrier_awb_photo,  -- INTEGER: valid awb_photo items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_packing_photo, 0)::INTEGER AS ev_carrier_packing_photo,  -- INTEGER: valid packing_photo items from the carrier uploaded by the cutoff
    coalesce(ev.ev_carrier_comparison_photo, 0)::INTEGER AS ev_carrier_comparison_photo,  -- INTEGER: valid comparison_photo items from the carrier uploaded by the cutoff
    coalesce(ev.ev_platform_photo, 0)::INTEGER AS ev_platform_photo,  -- INTEGER: valid photo items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_video, 0)::INTEGER AS ev_platform_video,  -- INTEGER: valid video items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_unboxing_video, 0)::INTEGER AS ev_platform_unboxing_video,  -- INTEGER: valid unboxing_video items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_tracking, 0)::INTEGER AS ev_platform_tracking,  -- INTEGER: valid tracking items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_proof_of_delivery, 0)::INTEGER AS ev_platform_proof_of_delivery,  -- INTEGER: valid proof_of_delivery items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_chat_screenshot, 0)::INTEGER AS ev_platform_chat_screenshot,  -- INTEGER: valid chat_screenshot items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_listing_snapshot, 0)::INTEGER AS ev_platform_listing_snapshot,  -- INTEGER: valid listing_snapshot items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_invoice, 0)::INTEGER AS ev_platform_invoice,  -- INTEGER: valid invoice items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_lab_report, 0)::INTEGER AS ev_platform_lab_report,  -- INTEGER: valid lab_report items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_awb_photo, 0)::INTEGER AS ev_platform_awb_photo,  -- INTEGER: valid awb_photo items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_packing_photo, 0)::INTEGER AS ev_platform_packing_photo,  -- INTEGER: valid packing_photo items from the platform uploaded by the cutoff
    coalesce(ev.ev_platform_comparison_photo, 0)::INTEGER AS ev_platform_comparison_photo  -- INTEGER: valid comparison_photo items from the platform uploaded by the cutoff
FROM c
LEFT JOIN int_buyer_prior_requests pr
       ON pr.shop_id = c.shop_id
      AND pr.return_order_id = (CASE WHEN c.case_kind = 'appeal' THEN NULL ELSE c.case_id END)
LEFT JOIN int_case_evidence_counts ev ON ev.case_id = c.case_id
