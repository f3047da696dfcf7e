"""aftersales: nightly adjudication of marketplace after-sales disputes."""
