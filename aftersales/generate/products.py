"""What the shops sell: SKUs with names, variations, categories, prices and weights.

Cross-border shops (shipping from CN) carry bilingual Chinese/English product names, which is
what makes their GB18030 export meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aftersales.generate.frames import Text
from aftersales.generate.sampling import spread_ids
from aftersales.generate.shops import Shop

# category -> [(English name, Chinese name, median USD price, weight kg)], variation labels
_PRODUCTS: dict[str, tuple[list[tuple[str, str, float, float]], list[str]]] = {
    "Womenswear & Underwear": (
        [("Oversized Knit Cardigan", "宽松针织开衫", 34.0, 0.45), ("High-Waist Yoga Leggings", "高腰瑜伽裤", 22.0, 0.25),
         ("Linen Wrap Dress", "亚麻裹身连衣裙", 48.0, 0.35), ("Wool Blend Long Coat", "羊毛混纺长款大衣", 139.0, 1.4)],
        ["Black, S", "Black, M", "Black, L", "Oat, M", "Sage, L", "Navy, XL"],
    ),
    "Phones & Electronics": (
        [("Wireless Bluetooth Earbuds", "无线蓝牙耳机", 29.0, 0.12), ("65W GaN Fast Charger", "65W氮化镓快充充电器", 25.0, 0.15),
         ("Noise Cancelling Headphones", "主动降噪头戴式耳机", 159.0, 0.38), ("4K Action Camera", "4K运动相机", 189.0, 0.3),
         ("Smart Watch Pro", "智能手表Pro", 119.0, 0.1)],
        ["Black", "White", "Midnight Blue", "128GB", "256GB"],
    ),
    "Beauty & Personal Care": (
        [("Vitamin C Brightening Serum", "维C亮肤精华液", 19.0, 0.1), ("Hydrating Sheet Masks (10 pcs)", "补水面膜10片装", 12.0, 0.25),
         ("Ionic Hair Dryer", "负离子吹风机", 69.0, 0.7), ("Matte Lip Tint Set", "哑光唇釉套装", 15.0, 0.08)],
        ["30ml", "50ml", "Rose", "Coral", "Set of 3"],
    ),
    "Home Supplies": (
        [("Memory Foam Pillow", "记忆棉枕头", 32.0, 1.1), ("Robot Vacuum Cleaner", "扫地机器人", 249.0, 3.8),
         ("Blackout Curtains (2 panels)", "遮光窗帘两片装", 39.0, 1.6), ("Aroma Diffuser", "香薰加湿器", 27.0, 0.6)],
        ["Grey", "Beige", "Queen", "King", "Standard"],
    ),
    "Kitchenware": (
        [("Air Fryer 5L", "5升空气炸锅", 89.0, 4.2), ("Ceramic Non-stick Pan 28cm", "陶瓷不粘锅28厘米", 36.0, 1.2),
         ("Stainless Steel Tumbler", "不锈钢保温杯", 18.0, 0.4), ("Espresso Machine", "意式咖啡机", 329.0, 6.5)],
        ["Black", "Cream", "Green", "500ml", "750ml"],
    ),
    "Sports & Outdoor": (
        [("Adjustable Dumbbells 20kg", "可调节哑铃20公斤", 129.0, 20.0), ("Camping Lantern", "露营灯", 21.0, 0.5),
         ("Running Hydration Vest", "跑步水袋背心", 45.0, 0.3)],
        ["S/M", "L/XL", "Orange", "Olive"],
    ),
    "Toys & Hobbies": (
        [("Building Blocks Castle (1,200 pcs)", "积木城堡1200颗粒", 59.0, 1.5), ("Plush Capybara 40cm", "水豚毛绒玩具40厘米", 17.0, 0.35),
         ("RC Stunt Car", "遥控特技车", 38.0, 0.9)],
        ["Standard", "Deluxe", "Pink", "Brown"],
    ),
    "Fashion Accessories": (
        [("Leather Crossbody Bag", "真皮斜挎包", 79.0, 0.6), ("Polarized Sunglasses", "偏光太阳镜", 24.0, 0.1),
         ("Silk Scarf", "真丝围巾", 29.0, 0.08), ("Automatic Watch", "自动机械表", 219.0, 0.2)],
        ["Tan", "Black", "Tortoise", "Floral"],
    ),
}  # fmt: skip
_CATEGORIES = list(_PRODUCTS)
# Local-language prefixes make SEA listings look like SEA listings.
# Whole-unit price points (VND thousands, IDR hundreds, THB tens); elsewhere x.99 pricing.
_PRICE_STEP = {"VN": 1000, "ID": 100, "TH": 10}
_LOCAL_PREFIX = {"th": "[พร้อมส่ง] ", "vi": "[Hàng sẵn] ", "id": "[Ready Stock] "}


@dataclass
class Catalog:
    """One row per SKU; `shop_first[s]:shop_first[s+1]` are shop s's SKUs."""

    shop: np.ndarray
    sku_id: np.ndarray
    seller_sku: Text
    product_name: Text
    variation: Text
    category: Text
    unit_price: np.ndarray  # minor units, local currency
    weight_kg: np.ndarray
    shop_first: np.ndarray

    def __len__(self) -> int:
        return len(self.shop)


def build_catalog(rng: np.random.Generator, shops: list[Shop], skus_per_shop: int) -> Catalog:
    """`skus_per_shop` SKUs per shop, priced so that some land above the $100/£100 pivot."""
    shop_col, names, variations, categories, sellers, prices, weights = [], [], [], [], [], [], []
    for shop in shops:
        cat_idx = rng.integers(0, len(_CATEGORIES), skus_per_shop)
        for k, c in enumerate(cat_idx):
            category = _CATEGORIES[c]
            products, labels = _PRODUCTS[category]
            p = int(rng.integers(0, len(products)))
            en, zh, median_usd, kg = products[p]
            variation = labels[int(rng.integers(0, len(labels)))]
            if shop.cross_border:
                name = f"{zh} {en}"
            else:
                name = _LOCAL_PREFIX.get(shop.market.language, "") + en
            usd = median_usd * float(np.exp(rng.normal(0.0, 0.35)))
            local = usd * shop.market.per_usd
            step = _PRICE_STEP.get(shop.market.code)
            local = max(step, round(local / step) * step) if step else max(0.99, round(local) - 0.01)
            shop_col.append(shop.index)
            names.append(name)
            variations.append(variation)
            categories.append(category)
            sellers.append(f"{category[:3].upper()}-{p + 1:02d}{k:03d}-{variation.split(',')[0][:3].upper()}")
            prices.append(round(local * 100))
            weights.append(kg * float(np.exp(rng.normal(0.0, 0.1))))
    n = len(shop_col)
    shop_arr = np.array(shop_col, dtype=np.int32)
    return Catalog(
        shop=shop_arr,
        sku_id=spread_ids(1729, n, 15, salt=int(rng.integers(0, 10**12))),
        seller_sku=Text.of(np.arange(n), sellers),
        product_name=Text.of(np.arange(n), names),
        variation=Text.of(np.arange(n), variations),
        category=Text.of(np.arange(n), categories),
        unit_price=np.array(prices, dtype=float),
        weight_kg=np.array(weights),
        shop_first=np.searchsorted(shop_arr, np.arange(len(shops) + 1)),
    )
