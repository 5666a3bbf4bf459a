"""ExecutionMetadataCatalog: the venue rules (tick, step, minimums) the strategy was verified against.

One InstrumentSpec per instrument, stored as YAML with decimal strings. Absent fields are omitted, never guessed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import yaml

from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautilus_trader.model.instruments import Instrument

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

class InstrumentSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True, kw_only=True):
    """What a venue accepts for one instrument."""

    instrument_id: str
    status: str | None = None
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    price_precision: int | None = None
    size_precision: int | None = None
    base: str | None = None
    quote: str | None = None
    exchange: str | None = None

    @property
    def symbol(self) -> str:
        return self.instrument_id.rsplit(".", 1)[0]

    @property
    def venue(self) -> str:
        return self.instrument_id.rsplit(".", 1)[-1]

    @property
    def trading(self) -> bool:
        return self.status in (None, "TRADING")


class ExecutionMetadataCatalog(msgspec.Struct, kw_only=True):
    """The specs of one venue, keyed by instrument id."""

    venue: str
    instruments: list[InstrumentSpec] = []

    def by_id(self) -> dict[str, InstrumentSpec]:
        return {spec.instrument_id: spec for spec in self.instruments}

    def get(self, instrument_id: str) -> InstrumentSpec | None:
        return self.by_id().get(instrument_id)


def load_catalog(path: str | Path) -> ExecutionMetadataCatalog:
    """Read a catalog; a missing file, bad YAML or a non-decimal value is a ConfigError naming file and key."""
    path = Path(path)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: catalog not found (write one with `nautlive catalog snapshot`)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read catalog: {exc.strerror}") from None
    try:  # the layout save_catalog writes, in one typed decode; anything else takes the general path below
        return msgspec.json.decode(body, type=ExecutionMetadataCatalog)
    except msgspec.DecodeError:
        pass
    try:
        raw = _read_yaml_or_json(body)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: catalog is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict) or "instruments" not in raw:
        raise ConfigError(f"{path}: expected a mapping with `venue` and `instruments`")
    records = raw.get("instruments") or []
    if not isinstance(records, list):
        raise ConfigError(f"{path}: instruments: expected a list of records")
    specs = [_parse_record(path, i, record) for i, record in enumerate(records)]
    return ExecutionMetadataCatalog(venue=str(raw.get("venue", "")), instruments=specs)


def save_catalog(catalog: ExecutionMetadataCatalog, path: str | Path) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a catalog.

    The file is YAML in its JSON-compatible flow style, one instrument per line: diffs show one line per changed
    instrument, and a 2,000-instrument catalog loads in milliseconds instead of half a second.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = ",\n".join("  " + msgspec.json.encode(spec_to_dict(s)).decode() for s in catalog.instruments)
    body = f'{{"venue": {msgspec.json.encode(catalog.venue).decode()}, "instruments": [\n{records}\n]}}\n'
    write_atomically(path, body.encode())


def write_atomically(path: Path, body: bytes) -> None:
    """Write a temporary file of its own beside `path` (two writers never share one), then rename it over `path`.
    The file keeps the mode of the one it replaces; nothing is left behind when writing fails."""
    import os
    import tempfile

    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_yaml_or_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return yaml.load(body, Loader=_Loader)


def spec_to_dict(spec: InstrumentSpec) -> dict[str, Any]:
    """Decimals as canonical strings ("0.01000000" -> "0.01"), absent fields omitted."""
    out = msgspec.to_builtins(spec)
    return {k: (_canonical(getattr(spec, k)) if isinstance(getattr(spec, k), Decimal) else v) for k, v in out.items()}


def _canonical(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _parse_record(path: Path, index: int, record: Any) -> InstrumentSpec:
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: instruments[{index}]: expected a mapping, got {type(record).__name__}")
    label = record.get("instrument_id", f"instruments[{index}]")
    fields = {k: (str(v) if isinstance(v, float) else v) for k, v in record.items()}
    try:
        return msgspec.convert(fields, InstrumentSpec, strict=False)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `")
        key = where.rstrip("`").removeprefix("$.")
        if "unknown field" in message or "missing required field" in message:
            key, message = message.split("`")[1], message.split("`")[0].strip().lower()
        elif "decimal" in message.lower():
            message = f"expected a decimal string, got {record.get(key)!r}"
        raise ConfigError(f"{path}: {label}: {key}: {message}") from None


def spec_from_instrument(instrument: Instrument) -> InstrumentSpec:
    """Read an InstrumentSpec off a Nautilus instrument (CurrencyPair, Equity, ...)."""
    info = getattr(instrument, "info", None) or {}

    def dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value.as_decimal() if hasattr(value, "as_decimal") else value))

    base = getattr(instrument, "base_currency", None)
    return InstrumentSpec(
        instrument_id=str(instrument.id),
        status=info.get("status") if isinstance(info, dict) else None,
        tick_size=dec(instrument.price_increment),
        step_size=dec(instrument.size_increment),
        min_qty=dec(instrument.min_quantity),
        max_qty=dec(instrument.max_quantity),
        min_notional=dec(instrument.min_notional),
        max_notional=dec(instrument.max_notional),
        price_precision=instrument.price_precision,
        size_precision=instrument.size_precision,
        base=base.code if base is not None else None,
        quote=instrument.quote_currency.code,
    )


def spec_to_instrument(spec: InstrumentSpec, taker_fee: Decimal = Decimal("0.001"), maker_fee: Decimal | None = None):
    """Build the Nautilus instrument the backtest and shadow modes trade: CurrencyPair with a base, else Equity."""
    from nautilus_trader.model.identifiers import InstrumentId, Symbol
    from nautilus_trader.model.instruments import CurrencyPair, Equity
    from nautilus_trader.model.objects import Money, Price, Quantity

    if spec.tick_size is None or spec.step_size is None or spec.quote is None:
        raise ConfigError(f"catalog: {spec.instrument_id}: tick_size, step_size and quote are needed to trade it")
    price_precision = spec.price_precision if spec.price_precision is not None else _decimals(spec.tick_size)
    size_precision = spec.size_precision if spec.size_precision is not None else _decimals(spec.step_size)
    iid = InstrumentId.from_str(spec.instrument_id)
    quote = _currency(spec.quote)
    tick = Price(spec.tick_size, price_precision)
    step = Quantity(spec.step_size, size_precision)
    maker = taker_fee if maker_fee is None else maker_fee
    if spec.base is None:
        return Equity(
            instrument_id=iid,
            raw_symbol=Symbol(iid.symbol.value),
            currency=quote,
            price_precision=price_precision,
            price_increment=tick,
            lot_size=Quantity(1, 0) if size_precision == 0 else step,
            ts_event=0,
            ts_init=0,
            maker_fee=maker,
            taker_fee=taker_fee,
        )
    qty = lambda v: None if v is None else Quantity(v, size_precision)  # noqa: E731
    return CurrencyPair(
        instrument_id=iid,
        raw_symbol=Symbol(iid.symbol.value),
        base_currency=_currency(spec.base),
        quote_currency=quote,
        price_precision=price_precision,
        size_precision=size_precision,
        price_increment=tick,
        size_increment=step,
        lot_size=step,
        max_quantity=qty(spec.max_qty),
        min_quantity=qty(spec.min_qty),
        max_notional=None if spec.max_notional is None else Money(spec.max_notional, quote),
        min_notional=None if spec.min_notional is None else Money(spec.min_notional, quote),
        max_price=None,
        min_price=None,
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=maker,
        taker_fee=taker_fee,
        ts_event=0,
        ts_init=0,
    )


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _currency(code: str):
    from nautilus_trader.model.currencies import Currency

    return Currency.from_str(code)  # unknown codes become an 8-decimal crypto currency
