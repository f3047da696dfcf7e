"""The nightly HTML report page (see aftersales.report.page)."""

from aftersales.report.page import write_report_page

__all__ = ["write_report_page"]
