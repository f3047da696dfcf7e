"""Buyer–seller messages (contract section 2.5).

Conversations follow scripted scenarios that exercise the chat-reply clock: fast, same-day,
late and missing seller replies, bare greetings ("hi", "你好") before the real answer, chatbot
auto-replies (alone or before a human), system notices, seller-initiated outreach, pre-sale
chats without an order, and weekend messages answered on Monday. "Content" is personal data:
templates carry the buyer's name, phone or address.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aftersales.generate.frames import Frame, Text
from aftersales.generate.people import Buyers
from aftersales.generate.products import Catalog
from aftersales.generate.sampling import (
    DAY,
    HOUR,
    MINUTE,
    local_midnight_epoch,
    local_times_of_day,
    local_to_utc,
    local_weekday,
    pick,
    spread_ids,
    uniform,
    utc_to_local,
)
from aftersales.generate.shops import Shop, zone_codes

ROLES = ["Buyer", "Seller", "Chatbot", "System"]
B, S, C, SYS = range(4)
MESSAGE_TYPES = ["text", "image", "video", "sticker", "order_card", "product_card"]
TEXT, IMAGE, VIDEO, STICKER, ORDER_CARD, PRODUCT_CARD = range(6)


@dataclass(frozen=True)
class Step:
    role: int
    content: str  # content class
    lo: float  # delay after the previous message, seconds
    hi: float
    prob: float = 1.0


SCENARIOS: dict[str, tuple[float, tuple[Step, ...]]] = {
    "fast_reply": (0.28, (Step(B, "question", 0, 0), Step(S, "answer", 3 * MINUTE, 2 * HOUR), Step(B, "thanks", 5 * MINUTE, 3 * HOUR, 0.5))),
    "same_day_reply": (0.12, (Step(B, "question", 0, 0), Step(S, "answer", 2 * HOUR, 20 * HOUR))),
    "late_reply": (0.08, (Step(B, "question", 0, 0), Step(S, "answer", 26 * HOUR, 96 * HOUR))),
    "no_reply": (0.07, (Step(B, "question", 0, 0), Step(B, "followup", 4 * HOUR, 30 * HOUR, 0.6))),
    "greeting_first": (0.07, (Step(B, "question", 0, 0), Step(S, "greeting", MINUTE, 30 * MINUTE), Step(S, "answer", 10 * HOUR, 40 * HOUR))),
    "chatbot_only": (0.06, (Step(B, "question", 0, 0), Step(C, "auto", 2, 20))),
    "chatbot_then_seller": (0.05, (Step(B, "question", 0, 0), Step(C, "auto", 2, 20), Step(S, "answer", HOUR, 30 * HOUR))),
    "multi_turn": (0.09, (Step(B, "question", 0, 0), Step(S, "answer", 5 * MINUTE, 4 * HOUR), Step(B, "followup", HOUR, 48 * HOUR),
                          Step(S, "answer", 10 * MINUTE, 30 * HOUR, 0.8))),
    "seller_initiated": (0.06, (Step(S, "outreach", 0, 0), Step(B, "question", HOUR, 20 * HOUR, 0.6), Step(S, "answer", 10 * MINUTE, 10 * HOUR, 0.6))),
    "system_first": (0.03, (Step(SYS, "system", 0, 0), Step(B, "question", MINUTE, 2 * DAY), Step(S, "answer", 30 * MINUTE, 20 * HOUR))),
    "image_first": (0.03, (Step(B, "image", 0, 0), Step(B, "question", 10, 2 * MINUTE), Step(S, "answer", 30 * MINUTE, 8 * HOUR))),
    "weekend": (0.03, (Step(B, "question", 0, 0), Step(S, "answer", 0, 0))),  # reply timed on Monday, see below
    "sticker_product": (0.03, (Step(B, "sticker", 0, 0), Step(B, "question", 10, MINUTE), Step(S, "product_card", 5 * MINUTE, 3 * HOUR))),
}  # fmt: skip
_SCENARIO_NAMES = list(SCENARIOS)
_NEEDS_ORDER = {"system_first", "image_first", "weekend"}

CONTENT: dict[str, dict[str, list[str]]] = {
    "question": {
        "en": ["Hi, when will my order ship? I need it by Friday.", "My parcel says delivered but I can't find it. I'm at {address}.",
               "Hello, I'm {name}. Please call me on {phone} before delivery.", "The item arrived damaged, what can I do?",
               "Can I change the colour to black please?", "I want to cancel order {order}, I ordered by mistake.",
               "Why was my return rejected? It clearly doesn't work.", "Where is my refund for order {order}?"],
        "th": ["สวัสดีค่ะ สินค้าจะส่งเมื่อไหร่คะ", "ได้รับของแล้วแต่ของเสียหายค่ะ", "ดิฉัน {name} เบอร์ {phone} ค่ะ ช่วยโทรก่อนส่งนะคะ",
               "ขอยกเลิกคำสั่งซื้อ {order} ค่ะ"],
        "vi": ["Shop ơi khi nào giao hàng ạ?", "Hàng bị vỡ khi nhận, shop xử lý giúp em", "Em là {name}, sđt {phone}, gọi trước khi giao nhé",
               "Em muốn huỷ đơn {order}"],
        "id": ["Kak, kapan pesanan saya dikirim?", "Barangnya rusak waktu diterima", "Saya {name}, no HP {phone}, tolong telepon dulu ya",
               "Saya mau batalkan pesanan {order}"],
    },
    "presale": {
        "en": ["Is this still in stock in size M?", "Do you ship to {address}?", "Is there a discount if I buy 3?",
               "Hi, I'm {name} - is the black one back in stock?"],
        "th": ["มีไซส์ M ไหมคะ", "ส่งไปที่ {address} ได้ไหมคะ"],
        "vi": ["Còn size M không shop?", "Shop có giao tới {address} không ạ?"],
        "id": ["Ukuran M masih ada kak?", "Bisa kirim ke {address} kak?"],
    },
    "answer": {
        "en": ["Thanks for reaching out! Your order ships within 24 hours.", "Sorry to hear that, {first}. Could you send a photo of the damage?",
               "Yes, size M is in stock. We've updated your order.", "We've shipped your parcel; the tracking number is in the app.",
               "We can offer a replacement or a full refund - which do you prefer?", "We checked with the carrier and opened a claim for order {order}."],
        "th": ["ขอบคุณค่ะ ทางร้านจะจัดส่งภายใน 24 ชั่วโมงค่ะ", "ขออภัยค่ะ รบกวนส่งรูปสินค้าที่เสียหายมาให้ดูหน่อยนะคะ", "จัดส่งแล้วค่ะ เลขพัสดุอยู่ในแอปนะคะ"],
        "vi": ["Dạ shop cảm ơn, đơn sẽ được gửi trong 24h ạ", "Dạ shop xin lỗi, bạn gửi giúp shop hình ảnh sản phẩm nhé", "Dạ đơn đã được giao cho đơn vị vận chuyển ạ"],
        "id": ["Terima kasih kak, pesanan dikirim dalam 24 jam", "Mohon maaf kak, boleh kirim foto barangnya?", "Pesanan sudah dikirim kak, resi ada di aplikasi"],
    },
    "followup": {
        "en": ["Any update on this?", "Hello?? Still waiting for an answer", "I sent the photos, please check.", "Can you confirm the new delivery date?"],
        "th": ["ยังไม่ได้รับคำตอบเลยค่ะ", "ส่งรูปให้แล้วนะคะ"],
        "vi": ["Shop ơi trả lời em với", "Em gửi ảnh rồi ạ"],
        "id": ["Kak, mohon dibalas", "Sudah saya kirim fotonya"],
    },
    "thanks": {
        "en": ["Thank you so much!", "Great, thanks! - {first}", "Perfect 👍"],
        "th": ["ขอบคุณค่ะ"], "vi": ["Cảm ơn shop"], "id": ["Terima kasih kak"],
    },
    "outreach": {
        "en": ["Hi {first}, thanks for your order! Let us know if you need anything.", "Your order {order} is packed and will ship today.",
               "Black Friday: 20% off everything in our shop this weekend!"],
        "th": ["ขอบคุณที่สั่งซื้อค่ะ คุณ{first}", "โปรโมชั่นลดราคา 20% วันนี้เท่านั้น!"],
        "vi": ["Cảm ơn {first} đã đặt hàng!", "Flash sale giảm 20% hôm nay!"],
        "id": ["Terima kasih {first} sudah belanja!", "Promo 20% hari ini saja!"],
    },
    "greeting": {
        "en": ["hi", "Hello!", "Hi there", "你好"], "th": ["สวัสดีค่ะ", "hi", "你好"], "vi": ["Xin chào", "Hello!"], "id": ["Halo kak", "hi"],
    },
    "auto": {
        "en": ["[Auto-reply] Thanks for your message! We usually reply within a few hours.",
               "[Auto-reply] You can track your parcel under Orders > Track package."],
        "th": ["[ตอบกลับอัตโนมัติ] ขอบคุณสำหรับข้อความค่ะ ทางร้านจะตอบกลับโดยเร็วที่สุด"],
        "vi": ["[Tự động trả lời] Cảm ơn bạn đã nhắn tin! Shop sẽ phản hồi sớm nhất."],
        "id": ["[Balasan otomatis] Terima kasih atas pesannya! Kami akan segera membalas."],
    },
    "system": {
        "en": ["Order status updated: shipped", "The buyer has requested a return",
               "This conversation has been transferred to TikTok Shop customer service"],
    },
    "image": {"en": ["[Image]"]},
    "video": {"en": ["[Video]"]},
    "sticker": {"en": ["[Sticker]"]},
    "order_card": {"en": ["[Order] {order}"]},
    "product_card": {"en": ["[Product] {product}"]},
}  # fmt: skip
_CLASS_TYPE = {
    "image": IMAGE,
    "video": VIDEO,
    "sticker": STICKER,
    "order_card": ORDER_CARD,
    "product_card": PRODUCT_CARD,
}
# Placeholder contents that identify nobody (excluded from the personal-value list).
GENERIC_CONTENT = frozenset(
    v
    for cls in ("greeting", "auto", "system", "image", "video", "sticker")
    for vals in CONTENT[cls].values()
    for v in vals
)

_LANGS = ["en", "th", "vi", "id"]


def _content_vocab() -> tuple[list[str], dict[tuple[str, str], np.ndarray]]:
    vocab: list[str] = []
    index: dict[tuple[str, str], np.ndarray] = {}
    for cls, by_lang in CONTENT.items():
        for lang in _LANGS:
            values = by_lang.get(lang, by_lang["en"])
            index[(cls, lang)] = np.arange(len(vocab), len(vocab) + len(values))
            vocab.extend(values)
    return vocab, index


def generate_messages(
    rng: np.random.Generator,
    shops: list[Shop],
    orders: Frame,
    buyers: Buyers,
    catalog: Catalog,
    n: int,
    history_days: int,
    batch_date,
) -> Frame:
    """About `n` messages (never more), in conversations that started before the cutoff."""
    avg = sum(w * sum(s.prob for s in steps) for w, steps in SCENARIOS.values()) / sum(
        w for w, _ in SCENARIOS.values()
    )
    n_conv = max(len(SCENARIOS), int(np.ceil(n * 1.1 / avg))) if n else 0
    scen = pick(rng, n_conv, [w for w, _ in SCENARIOS.values()])
    needs_order = np.isin(scen, [_SCENARIO_NAMES.index(x) for x in _NEEDS_ORDER])
    presale_p = np.where(scen == _SCENARIO_NAMES.index("seller_initiated"), 0.3, 0.15)
    linked = needs_order | (rng.random(n_conv) >= presale_p)

    # Conversation owner: the order's shop and buyer, or any buyer of the shop's market.
    paid = np.flatnonzero(~np.isnan(orders["t_paid"]))
    # Mostly one conversation per order; draw without replacement while orders last.
    draw = rng.permutation(paid)[:n_conv] if n_conv <= len(paid) else paid[rng.integers(0, len(paid), n_conv)]
    order = np.where(linked, draw, -1)
    shop_w = np.array([s.weight for s in shops])
    shop = np.where(
        linked, orders["shop"][np.maximum(order, 0)], rng.choice(len(shops), n_conv, p=shop_w / shop_w.sum())
    )
    markets = np.array([s.market.code for s in shops], dtype=object)
    buyer = orders["buyer"][np.maximum(order, 0)].copy()
    for code in np.unique(markets[shop[~linked]]):
        rows = np.flatnonzero(~linked & (markets[shop] == code))
        pool = buyers.of_market(code)
        buyer[rows] = pool[rng.integers(0, len(pool), len(rows))]
    bots = np.array([s.chatbots for s in shops])[shop]
    scen = np.where(
        ~bots & (scen == _SCENARIO_NAMES.index("chatbot_only")), _SCENARIO_NAMES.index("fast_reply"), scen
    )
    scen = np.where(
        ~bots & (scen == _SCENARIO_NAMES.index("chatbot_then_seller")),
        _SCENARIO_NAMES.index("same_day_reply"),
        scen,
    )

    # Start: some days after payment for order chats, any time in the last weeks for pre-sale.
    cutoff = np.array([s.cutoff for s in shops])[shop]
    zone_of_shop, zones = zone_codes(shops)
    zone = zone_of_shop[shop]
    paid_t = orders["t_paid"][np.maximum(order, 0)]
    start = paid_t + np.minimum(rng.exponential(4 * DAY, n_conv), 30 * DAY)
    start = np.where(start > cutoff - 5 * MINUTE, paid_t + rng.random(n_conv) * (cutoff - paid_t), start)
    days_back = rng.integers(0, min(history_days, 60), n_conv)
    presale_local = local_midnight_epoch(batch_date) - days_back * DAY + local_times_of_day(rng, n_conv)
    start = np.where(linked, start, local_to_utc(presale_local, zone, zones))

    # Weekend chats: start on a local Saturday or Sunday, answered on Monday (before or after noon).
    weekend = scen == _SCENARIO_NAMES.index("weekend")
    local_start = utc_to_local(start, zone, zones)
    day0 = np.floor(local_start / DAY) * DAY
    to_sat = (5 - local_weekday(local_start)) % 7
    sat = day0 + to_sat * DAY
    sat = np.where(sat + 2 * DAY > local_midnight_epoch(batch_date), sat - 7 * DAY, sat)
    weekend_local = sat + rng.integers(0, 2, n_conv) * DAY + uniform(rng, 8 * HOUR, 22 * HOUR, n_conv)
    monday_local = (
        sat
        + 2 * DAY
        + np.where(
            rng.random(n_conv) < 0.6,
            uniform(rng, 8 * HOUR, 11.5 * HOUR, n_conv),
            uniform(rng, 13 * HOUR, 18 * HOUR, n_conv),
        )
    )
    weekend_start = local_to_utc(weekend_local, zone, zones)
    # A weekend chat about an order placed after that weekend becomes an ordinary fast reply.
    too_early = weekend & (weekend_start < paid_t)
    scen = np.where(too_early, _SCENARIO_NAMES.index("fast_reply"), scen)
    weekend &= ~too_early
    start = np.where(weekend, weekend_start, start)
    monday = local_to_utc(monday_local, zone, zones)

    # Messages, scenario by scenario.
    vocab, index = _content_vocab()
    lang_of_shop = np.array([_LANGS.index(s.market.language) for s in shops])
    lang = lang_of_shop[shop]
    parts = []
    for code, name in enumerate(_SCENARIO_NAMES):
        rows = np.flatnonzero(scen == code)
        if not len(rows):
            continue
        t = start[rows].copy()
        for j, step in enumerate(SCENARIOS[name][1]):
            if j:
                t = t + uniform(rng, step.lo, step.hi, len(rows))
            if name == "weekend" and step.role == S:
                t = monday[rows]
            keep = rng.random(len(rows)) < step.prob
            cls = step.content
            if cls == "question":
                cls_rows = np.where(linked[rows], 0, 1)  # order question or pre-sale question
            else:
                cls_rows = np.zeros(len(rows), dtype=np.int64)
            parts.append((rows[keep], np.full(keep.sum(), step.role), np.full(keep.sum(), j), t[keep],
                          np.array([cls, "presale"], dtype=object)[cls_rows[keep]]))  # fmt: skip
    parts.append(
        (
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0, object),
        )
    )
    conv, role, step_no, sent, cls = (np.concatenate([p[k] for p in parts]) for k in range(5))
    role = role.astype(np.int32)

    # Now in conversation order; drop what happens after the cutoff; keep at most n.
    order_rows = np.lexsort((step_no, sent, conv))
    conv, role, sent, cls = conv[order_rows], role[order_rows], sent[order_rows], cls[order_rows]
    keep = sent <= cutoff[conv]
    conv, role, sent, cls = conv[keep][:n], role[keep][:n], sent[keep][:n], cls[keep][:n]
    m = len(conv)

    # Occasional media instead of text.
    media = rng.random(m)
    cls = np.where((role == B) & (cls == "question") & (media < 0.05), "image", cls)
    cls = np.where((role == B) & (cls == "followup") & (media < 0.04), "sticker", cls)
    cls = np.where((role == B) & (cls == "question") & (media > 0.98), "video", cls)
    cls = np.where((role == S) & (cls == "answer") & (media < 0.03), "product_card", cls)
    cls = np.where((role == SYS) & (media < 0.3) & (order[conv] >= 0), "order_card", cls)
    mtype = np.array([_CLASS_TYPE.get(c, TEXT) for c in cls], dtype=np.int32) if m else np.zeros(0, np.int32)
    content = np.zeros(m, dtype=np.int32)
    lang_m = lang[conv]
    for key, ids in index.items():
        rows = np.flatnonzero((cls == key[0]) & (lang_m == _LANGS.index(key[1])))
        if len(rows):
            content[rows] = ids[pick(rng, len(rows), np.ones(len(ids)))]
    # Make sure every message type shows up even in a tiny sample.
    for t_code, c in (
        (IMAGE, "image"),
        (VIDEO, "video"),
        (STICKER, "sticker"),
        (ORDER_CARD, "order_card"),
        (PRODUCT_CARD, "product_card"),
    ):
        if m > 20 and not (mtype == t_code).any():
            cand = np.flatnonzero((role == B) & (mtype == TEXT) & (order[conv] >= 0))
            if len(cand):
                r = rng.choice(cand)
                mtype[r], content[r] = t_code, index[(c, "en")][0]

    sku_first, sku_count = catalog.shop_first[shop[conv]], np.diff(catalog.shop_first)[shop[conv]]
    product_sku = sku_first + (rng.random(m) * sku_count).astype(np.int64)
    b = buyer[conv]
    order_ids = np.where(order[conv] >= 0, orders["order_id"][np.maximum(order[conv], 0)], -1)
    return Frame(
        shop=shop[conv].astype(np.int32),
        conversation_id=spread_ids(73, n_conv, 17, salt=int(rng.integers(0, 10**16)))[conv],
        message_id=spread_ids(74, m, 17, salt=int(rng.integers(0, 10**16))),
        order_id=order_ids,
        sender_role=Text.of(role, ROLES),
        message_type=Text.of(mtype, MESSAGE_TYPES),
        t_sent=sent,
        content=Text.of(content, vocab),
        buyer_first=buyers.first.take(b),
        buyer_name=buyers.name.take(b),
        buyer_phone=buyers.phone.take(b),
        buyer_address=buyers.address.take(b),
        product=catalog.product_name.take(product_sku),
        scenario=scen[conv],
    )
