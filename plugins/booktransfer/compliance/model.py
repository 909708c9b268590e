"""The compliance gate's vocabulary: legal routes, cross-border mechanisms, destinations, the gate's settings.

Pure (no I/O): the settings come from the DAG's params (or a settings file), already checked by the form's
JSON Schema; `ComplianceSettings.from_params` still refuses what the rules cannot read, naming the param.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from booktransfer.errors import SettingsError

MAINLAND = "CN"
OUTSIDE_MAINLAND_SUBDIVISIONS = frozenset({"CN-HK", "CN-MO", "CN-TW"})
"""ISO 3166-2 lists Hong Kong, Macau and Taiwan under CN; for PIPL Art. 38 they count as outside the mainland."""

CROSS_BORDER_PURPOSE = "CROSS_BORDER"


class LegalRoute(StrEnum):
    """Why the seller may hand the book over (REQUIREMENTS §1.5; counsel's decision, recorded per transfer)."""

    ART22_NOTICE = "ART22_NOTICE"
    """PIPL Art. 22 (merger, division, ... "etc."): inform every data subject; the buyer keeps the seller's purposes."""
    ART23_SEPARATE_CONSENT = "ART23_SEPARATE_CONSENT"
    """PIPL Art. 23 (provision to another processor, e.g. an asset deal): separate consent first, per person."""
    STATUTORY_ART92 = "STATUTORY_ART92"
    """Insurance Law Art. 92 (revoked or bankrupt life insurer): a statutory transfer (PIPL Art. 13(1)(3));
    the buyer continues the contracts and the seller's purposes, as under Art. 22."""


class Mechanism(StrEnum):
    """The PIPL Art. 38 mechanism that allows personal information to leave the mainland."""

    CAC_SECURITY_ASSESSMENT = "CAC_SECURITY_ASSESSMENT"
    STANDARD_CONTRACT = "STANDARD_CONTRACT"
    CERTIFICATION = "CERTIFICATION"


@dataclass(frozen=True)
class Destination:
    """A place the buyer's data will be stored or accessed from, outside the buyer's mainland database."""

    jurisdiction: str
    recipient: str
    mechanism: Mechanism | None = None
    reference: str = ""

    @property
    def mainland(self) -> bool:
        """Whether the destination is in mainland China (CN, or a CN-xx subdivision other than HK, MO, TW)."""
        code = self.jurisdiction.strip().upper()
        return code == MAINLAND or (code.startswith(f"{MAINLAND}-") and code not in OUTSIDE_MAINLAND_SUBDIVISIONS)

    def label(self) -> str:
        """How messages name the destination: jurisdiction and recipient (an organisation, never a person)."""
        return f"{self.jurisdiction} ({self.recipient})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for the run's record."""
        return {"jurisdiction": self.jurisdiction, "recipient": self.recipient,
                "mechanism": self.mechanism.value if self.mechanism else None, "reference": self.reference,
                "mainland": self.mainland}


@dataclass(frozen=True)
class ComplianceSettings:
    """What the gate checks, from the trigger form."""

    legal_route: LegalRoute = LegalRoute.ART22_NOTICE
    pipia_reference: str = ""
    pipia_approved_on: date | None = None
    destinations: tuple[Destination, ...] = ()
    buyer_purposes: tuple[str, ...] = ()
    reconsent_file_given: bool = False
    dry_run: bool = False
    as_of: date | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ComplianceSettings:
        """From the DAG's params (missing ones take the form's defaults)."""
        return cls(
            legal_route=_enum(LegalRoute, params.get("legal_route") or LegalRoute.ART22_NOTICE, "legal_route"),
            pipia_reference=str(params.get("pipia_reference") or "").strip(),
            pipia_approved_on=_date(params.get("pipia_approved_on"), "pipia_approved_on"),
            destinations=tuple(_destination(d, i) for i, d in enumerate(params.get("cross_border_destinations") or [])),
            buyer_purposes=tuple(params.get("buyer_purposes") or ()),
            reconsent_file_given=bool(str(params.get("reconsent_file") or "").strip()),
            dry_run=bool(params.get("dry_run", False)),
            as_of=_date(params.get("as_of_date"), "as_of_date"),
        )


def _enum(kind: type[StrEnum], value: Any, name: str) -> Any:
    try:
        return kind(str(value).strip())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise SettingsError(f"{name}: {value!r} is not one of {allowed}") from None


def _date(value: Any, name: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _destination(item: Any, index: int) -> Destination:
    name = f"cross_border_destinations[{index}]"
    if not isinstance(item, Mapping):
        raise SettingsError(f"{name}: must be an object with jurisdiction, recipient, mechanism, reference")
    jurisdiction = str(item.get("jurisdiction") or "").strip().upper()
    recipient = str(item.get("recipient") or "").strip()
    if not jurisdiction or not recipient:
        raise SettingsError(f"{name}: jurisdiction and recipient are required")
    mechanism = item.get("mechanism") or None
    return Destination(jurisdiction, recipient,
                       _enum(Mechanism, mechanism, f"{name}.mechanism") if mechanism else None,
                       str(item.get("reference") or "").strip())
