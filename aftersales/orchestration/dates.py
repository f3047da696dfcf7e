"""Which batch date a run closes and where its inbox is.

A nightly run fired at 02:00 closes the *previous* business date in the schedule's time zone.
An inbox setting may be one folder for every date or a template naming one folder per date
(`inbox/{date}` → `inbox/2026-11-27`; any strftime format works: `inbox/{date:%Y%m%d}`).
"""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class InboxTemplateError(ValueError):
    """An inbox template with a placeholder other than {date}."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Singapore)") from exc


def batch_date_for(moment: datetime, timezone: str) -> date:
    """The business date a run scheduled at `moment` closes: the day before, in `timezone`.

    Computed from the run's *scheduled* time, not the wall clock, so a run that starts late
    (server down at 02:00, queue backed up past midnight) still closes the right date.
    """
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(zone(timezone)).date() - timedelta(days=1)


def dates_between(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, both included, in order."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def is_template(inbox: str | Path) -> bool:
    return "{" in str(inbox)


def check_template(template: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise InboxTemplateError(f"inbox template {template!r}: {exc}") from exc
    bad = [f for f in fields if f != "date"]
    if bad or not fields:
        raise InboxTemplateError(
            f"inbox template {template!r} may only use the {{date}} placeholder "
            f"(e.g. 'inbox/{{date}}' or 'inbox/{{date:%Y%m%d}}'), found {bad or 'none'}"
        )


def inbox_for(inbox: str | Path, day: date) -> Path:
    """The inbox folder for `day`: the template filled in, or the one folder used for every date."""
    text = str(inbox)
    if not is_template(text):
        return Path(text)
    check_template(text)
    return Path(text.format(date=day))
