"""Compare the local catalog with the venue's live specs, before trading and as `nautlive reconcile`.

Severity by direction, field by field (the README's reconcile section has the table):
BLOCKING: the venue is stricter in a way that can get an order the catalog allows rejected (a higher minimum, a new or
lower maximum, a step or tick the catalog's values do not satisfy, a status other than TRADING, a changed asset, an
instrument the venue does not list).
INFO: the venue only relaxed what the catalog allows (a lower minimum, a higher maximum, a filter it dropped, a finer
step or tick the catalog's values still satisfy, TRADING again): never a reason to refuse; `adopt: relaxed` takes them.
WARNING: what changes what is sent without a reject: the precisions Nautilus rounds quantities and prices to.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import msgspec

from nautlive.catalog.specs import ExecutionMetadataCatalog, InstrumentSpec
from nautlive.errors import ConfigError, ReconcileBlocked

Severity = Literal["BLOCKING", "WARNING", "INFO"]
MINIMUMS = ("min_qty", "min_notional")
MAXIMUMS = ("max_qty", "market_max_qty", "max_notional")
INCREMENTS = ("step_size", "tick_size")
PRECISIONS = {"step_size": "size_precision", "tick_size": "price_precision"}  # an increment's precision
IDENTITY = ("base", "quote")
FIELDS = ("status", *MINIMUMS, *MAXIMUMS, *INCREMENTS, *PRECISIONS.values(), *IDENTITY)  # compared, in row order


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
        return self.count("BLOCKING")

    @property
    def warnings(self) -> int:
        return self.count("WARNING")

    @property
    def info(self) -> int:
        return self.count("INFO")

    def count(self, severity: Severity) -> int:
        return sum(m.severity == severity for m in self.mismatches)

    def summary(self) -> str:
        return (f"{self.checked} instruments checked: {self.blocking} blocking, {self.warnings} warnings, "
                f"{self.info} info")

    def to_json(self) -> dict:
        return {
            "venue": self.venue,
            "checked": self.checked,
            "mismatches": msgspec.to_builtins(self.mismatches),
            "blocking": self.blocking,
            "warnings": self.warnings,
            "info": self.info,
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
        venue = venue_spec(spec, venue_specs)
        if venue is None:
            reason = unreadable.get(spec.symbol)
            rows.append(Mismatch(spec.instrument_id, "instrument", "listed", reason or "not listed", "BLOCKING"))
            continue
        rows.extend(_override(m, overrides) for m in compare_spec(spec, venue))
    return ReconcileResult(venue=catalog.venue, checked=len(catalog.instruments), mismatches=rows)


def compare_spec(ours: InstrumentSpec, theirs: InstrumentSpec) -> list[Mismatch]:
    """The differences of one instrument, each with the severity of its direction (no profile override)."""
    rows = []
    for field in FIELDS:
        severity = direction(field, ours, theirs)
        if severity is not None:
            rows.append(Mismatch(ours.instrument_id, field, _str(getattr(ours, field)), _str(getattr(theirs, field)),
                                 severity))
    return rows


def direction(field: str, ours: InstrumentSpec, theirs: InstrumentSpec) -> Severity | None:
    """None when the field is equal; else BLOCKING if the venue got stricter, INFO if it only relaxed, or WARNING."""
    a, b = getattr(ours, field), getattr(theirs, field)
    if a == b:
        return None
    if field == "status":
        return "INFO" if theirs.trading else "BLOCKING"
    if field in MINIMUMS:
        if b is not None and (a is None or b > a):
            return "BLOCKING"
        # Binance's LOT_SIZE wants (qty - minQty) to be a whole number of steps: a lower minimum off the step grid
        # would reject every quantity the catalog's step allows.
        on_grid = field != "min_qty" or b is None or _divides(theirs.step_size or ours.step_size, b)
        return "INFO" if on_grid else "BLOCKING"
    if field in MAXIMUMS:
        return "BLOCKING" if b is not None and (a is None or b < a) else "INFO"
    if field in INCREMENTS:
        return "INFO" if _divides(b, a) else "BLOCKING"
    if field in IDENTITY:
        return "BLOCKING"
    return "WARNING"  # the precisions


def relaxed_catalog(catalog: ExecutionMetadataCatalog, venue_specs: Mapping[str, InstrumentSpec],
                    overrides: Mapping[str, Severity] | None = None) -> tuple[ExecutionMetadataCatalog, list[Mismatch]]:
    """The catalog with the venue's relaxations taken, and the rows taken.

    A row is taken when its direction is INFO and the profile did not override that field to something else (a
    field an override raised waits for a person; one lowered from BLOCKING is never taken). A step or tick taken
    brings its precision along, so the record stays one Nautilus can build an instrument from.
    """
    overrides = overrides or {}
    records, taken = [], []
    for spec in catalog.instruments:
        venue = venue_spec(spec, venue_specs)
        rows = [] if venue is None else [
            m for m in compare_spec(spec, venue) if m.severity == "INFO" and overrides.get(m.field, "INFO") == "INFO"]
        for increment, precision in PRECISIONS.items():
            if any(m.field == increment for m in rows) and getattr(spec, precision) != getattr(venue, precision):
                rows.append(Mismatch(spec.instrument_id, precision, _str(getattr(spec, precision)),
                                     _str(getattr(venue, precision)), "WARNING"))
        changes = {m.field: getattr(venue, m.field) for m in rows}
        records.append(msgspec.structs.replace(spec, **changes) if changes else spec)
        taken.extend(rows)
    return ExecutionMetadataCatalog(venue=catalog.venue, instruments=records), taken


def patched_catalog(catalog: ExecutionMetadataCatalog, venue_specs: Mapping[str, InstrumentSpec]):
    """The catalog with every record the venue lists replaced by the venue's values."""
    records = []
    for spec in catalog.instruments:
        venue = venue_spec(spec, venue_specs)
        records.append(spec if venue is None else msgspec.structs.replace(venue, instrument_id=spec.instrument_id))
    return ExecutionMetadataCatalog(venue=catalog.venue, instruments=records)


def venue_spec(spec: InstrumentSpec, venue_specs: Mapping[str, InstrumentSpec]) -> InstrumentSpec | None:
    return venue_specs.get(spec.symbol) or venue_specs.get(spec.instrument_id)


def enforce(result: ReconcileResult, policy: str) -> None:
    """Refuse to trade (exit 3): on blocking rows under `fail`, on warnings too under `strict`; `warn` only logs.
    INFO rows never refuse."""
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


def _divides(step: Decimal | None, value: Decimal | None) -> bool:
    """Whether `value` is a whole number of `step`s (no step, or a zero one, constrains nothing)."""
    if step is None or step == 0:
        return True
    if value is None:
        return False
    return value % step == 0


def _str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)
