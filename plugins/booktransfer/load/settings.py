"""The transfer settings the load stage needs beyond the run's names: consent, data-subject requests, notices.

Light on purpose (no heavy imports): the DAG's params module and the CLI read the defaults from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SELLER_TIMEZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_BUYER_PURPOSES = ("SERVICING", "MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER")
DEFAULT_RECIPIENT_NAME = "Example Buyer Life Insurance Co., Ltd."
DEFAULT_RECIPIENT_CONTACT = "Personal information protection officer, privacy@buyer.example, 400-000-0000"


@dataclass(frozen=True)
class TransferSettings:
    """Consent, data-subject request and notice settings of one transfer. Holds paths and names, no personal data.

    The as-of date (who is under 14, whose retention hold has ended) is the run's: `RunContext.as_of`.
    """

    buyer_purposes: tuple[str, ...] = DEFAULT_BUYER_PURPOSES
    suppression_file: Path | None = None
    reconsent_file: Path | None = None
    recipient_name: str = DEFAULT_RECIPIENT_NAME
    recipient_contact: str = DEFAULT_RECIPIENT_CONTACT
    notify_via_policyholder: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any], home: Path) -> TransferSettings:
        """From the DAG's params (missing ones take the defaults); relative paths are read from `home`."""

        def path(name: str) -> Path | None:
            value = (params.get(name) or "").strip()
            if not value:
                return None
            p = Path(value)
            return p if p.is_absolute() else home / p

        return cls(
            buyer_purposes=tuple(params.get("buyer_purposes") or DEFAULT_BUYER_PURPOSES),
            suppression_file=path("suppression_file"),
            reconsent_file=path("reconsent_file"),
            recipient_name=params.get("recipient_name", DEFAULT_RECIPIENT_NAME),
            recipient_contact=params.get("recipient_contact", DEFAULT_RECIPIENT_CONTACT),
            notify_via_policyholder=bool(params.get("notify_via_policyholder", True)),
        )


def as_of_date(value: date | str | None) -> date:
    """The run's as-of date: given (a date or `YYYY-MM-DD`), else today in Beijing (the seller's time zone)."""
    if isinstance(value, date):
        return value
    if value and value.strip():
        return date.fromisoformat(value.strip())
    return datetime.now(SELLER_TIMEZONE).date()
