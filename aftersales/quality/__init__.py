"""Data-quality gates: one Great Expectations suite per export kind, and the validation report."""

import logging
import os

# A nightly batch sends no usage analytics (set before Great Expectations is first imported).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Great Expectations logs every registered data-source method at INFO when imported: keep the
# batch log readable (warnings and errors still show).
logging.getLogger("great_expectations").setLevel(logging.WARNING)
