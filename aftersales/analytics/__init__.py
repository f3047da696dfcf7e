"""Analyst and compliance views over the warehouse (see docs/ANALYST_GUIDE.md)."""

from aftersales.analytics.views import VIEW_NAMES, create_views
from aftersales.lakehouse.connect import open_warehouse

__all__ = ["VIEW_NAMES", "create_views", "open_warehouse"]
