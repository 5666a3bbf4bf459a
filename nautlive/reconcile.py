"""Compare the local catalog with the venue's live specs, before trading and as `nautlive reconcile`.

BLOCKING: the venue would reject an order the catalog allows (a higher minimum, a lower maximum, a step that does not
divide the catalog's, a status other than TRADING, a changed asset, an instrument the venue does not list).
WARNING: anything else that changed (tick size, precision, loosened limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import msgspec

from nautlive.catalog import ExecutionMetadataCatalog, InstrumentSpec
from nautlive.errors import ConfigError, ReconcileBlocked

Severity = Literal["BLOCKING", "WARNING"]
MINIMUMS = ("min_qty", "min_notional")
MAXIMUMS = ("max_qty", "market_max_qty", "max_notional")
INFORMATIVE = ("tick_size", "price_precision", "size_precision")
IDENTITY = ("base", "quote")


class Mismatch(msgspec.Struct, frozen=True):
    instrument: str
    field: str
    catalog: str | None
    venue: str | None
    severity: Severity


class ReconcileResult(msgspec.Struct, frozen=True):
    venue: str
    checked: int
    mismatches: list[Mismatch]

    @property
    def blocking(self) -> int:
        return sum(m.severity == "BLOCKING" for m in self.mismatches)

    @property
    def warnings(self) -> int:
        return sum(m.severity == "WARNING" for m in self.mismatches)

    def to_json(self) -> dict:
        return {
            "venue": self.venue,
            "checked": self.checked,
            "mismatches": msgspec.to_builtins(self.mismatches),
            "blocking": self.blocking,
            "warnings": self.warnings,
        }


def compare(
    catalog: ExecutionMetadataCatalog,
    venue_specs: Mapping[str, InstrumentSpec],
    unreadable: Mapping[str, str] | None = None,
    overrides: Mapping[str, Severity] | None = None,
) -> ReconcileResult:
    """Every catalog record against the venue's; `venue_specs` is keyed by symbol or by instrument id."""
    if not catalog.instruments:
        raise ConfigError("catalog has no instruments: nothing to reconcile (write one with `nautlive catalog snapshot`)")
    unreadable = unreadable or {}
    overrides = overrides or {}
    rows: list[Mismatch] = []
    for spec in catalog.instruments:
        venue = venue_specs.get(spec.symbol) or venue_specs.get(spec.instrument_id)
        if venue is None:
            reason = unreadable.get(spec.symbol)
            rows.append(Mismatch(spec.instrument_id, "instrument", "listed", reason or "not listed", "BLOCKING"))
            continue
        rows.extend(_override(m, overrides) for m in compare_spec(spec, venue))
    return ReconcileResult(venue=catalog.venue, checked=len(catalog.instruments), mismatches=rows)


def compare_spec(ours: InstrumentSpec, theirs: InstrumentSpec) -> list[Mismatch]:
    """The differences of one instrument, each with its severity."""
    rows: list[Mismatch] = []

    def add(field: str, severity: Severity) -> None:
        rows.append(Mismatch(ours.instrument_id, field, _str(getattr(ours, field)), _str(getattr(theirs, field)),
                             severity))

    if ours.status != theirs.status:
        add("status", "WARNING" if theirs.trading else "BLOCKING")
    for field in MINIMUMS:
        a, b = getattr(ours, field), getattr(theirs, field)
        if a != b:
            add(field, "BLOCKING" if (b or 0) > (a or 0) else "WARNING")
    for field in MAXIMUMS:
        a, b = getattr(ours, field), getattr(theirs, field)
        if a != b:
            add(field, "BLOCKING" if b is not None and (a is None or b < a) else "WARNING")
    if ours.step_size != theirs.step_size:
        add("step_size", "WARNING" if _divides(theirs.step_size, ours.step_size) else "BLOCKING")
    for field in INFORMATIVE:
        if getattr(ours, field) != getattr(theirs, field):
            add(field, "WARNING")
    for field in IDENTITY:
        if getattr(ours, field) != getattr(theirs, field):
            add(field, "BLOCKING")
    return rows


def patched_catalog(catalog: ExecutionMetadataCatalog, venue_specs: Mapping[str, InstrumentSpec]):
    """The catalog with every record the venue lists replaced by the venue's values."""
    records = []
    for spec in catalog.instruments:
        venue = venue_specs.get(spec.symbol) or venue_specs.get(spec.instrument_id)
        records.append(spec if venue is None else msgspec.structs.replace(venue, instrument_id=spec.instrument_id))
    return ExecutionMetadataCatalog(venue=catalog.venue, instruments=records)


def enforce(result: ReconcileResult, policy: str) -> None:
    """Refuse to trade (exit 3): on blocking rows under `fail`, on any row under `strict`; `warn` only logs."""
    severities = {"fail": ("BLOCKING",), "strict": ("BLOCKING", "WARNING")}.get(policy, ())
    refused = [m for m in result.mismatches if m.severity in severities]
    if refused:
        first = refused[0]
        raise ReconcileBlocked(
            f"{len(refused)} catalog mismatch(es), e.g. {first.instrument} "
            f"{first.field}: catalog {first.catalog} vs venue {first.venue} ({first.severity}): nothing traded; "
            "`nautlive reconcile` lists them, `nautlive reconcile --write-patch` updates the catalog"
        )


def blocked_instruments(result: ReconcileResult) -> dict[str, str]:
    """Instrument id -> why it must not trade, for every BLOCKING row (checked again before each rebalance)."""
    blocked: dict[str, str] = {}
    for m in result.mismatches:
        if m.severity == "BLOCKING" and m.instrument not in blocked:
            blocked[m.instrument] = f"blocking catalog mismatch {m.field}: catalog {m.catalog} vs venue {m.venue}"
    return blocked


def _override(m: Mismatch, overrides: Mapping[str, Severity]) -> Mismatch:
    severity = overrides.get(m.field)
    return m if severity is None else msgspec.structs.replace(m, severity=severity)


def _divides(venue_step: Decimal | None, catalog_step: Decimal | None) -> bool:
    if venue_step is None or venue_step == 0:
        return True
    if catalog_step is None:
        return False
    return catalog_step % venue_step == 0


def _str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def reconcile_profile(profile, from_file=None, catalog_path=None):  # noqa: ANN001, ANN201
    """Load the profile's catalog, get the venue's specs, compare: (catalog, venue specs, result)."""
    from nautlive.catalog import load_catalog
    from nautlive.venues import load_venue_specs

    catalog = load_catalog(catalog_path or profile.catalog)
    specs = load_venue_specs(profile, from_file)
    result = compare(catalog, specs.specs, specs.unreadable, profile.reconcile.severity)
    return catalog, specs, result
