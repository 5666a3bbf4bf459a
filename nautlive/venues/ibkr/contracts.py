"""Interactive Brokers: contract details -> InstrumentSpec, and the Nautilus IB client configs of a profile.

Contract details map as: minTick -> tick_size (price_precision = its decimals, as Nautilus counts them);
sizeIncrement / minSize -> step_size / min_qty (1 when absent; whole shares for stocks unless `fractional`);
contract.currency -> quote; for FX (CASH) contract.symbol -> base. Instrument ids follow Nautilus's IB_SIMPLIFIED
symbology: the venue is the primary exchange of a SMART-routed stock, else the exchange (AAPL.NASDAQ, EUR/USD.IDEALPRO,
CLZ2.NYMEX). IB sends no trading status in contract details, so every spec is "TRADING".
"""

from __future__ import annotations

import json
import os
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nautlive.catalog.specs import ExecutionMetadataCatalog, InstrumentSpec, save_catalog
from nautlive.errors import ConfigError, NautliveError, RuntimeFailure
from nautlive.venues.ibkr.config import (
    IbkrSettings,
    _connection_timeout,
    ibkr_settings,
    instrument_provider_config,
)
from nautlive.venues.ibkr.gateway import check_gateway_reachable
from nautlive.venues.interface import VenueSpecs

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

VENUE = "INTERACTIVE_BROKERS"
SEC_TYPES = ("STK", "CASH", "FUT")
ONE = Decimal(1)
_UNSET_DECIMAL = Decimal(2**127 - 1)  # ibapi's "not sent" value, found in instrument.info of older servers
_FUT_LOCAL_SYMBOL = re.compile(r"^\w{1,3}[FGHJKMNQUVXZ]\d$")  # "CLZ2": Nautilus keeps it as is

# SPY has no captured contract details; these are IB's published facts for it (cent tick, whole shares).
SPY_DETAILS = {
    "contract": {
        "secType": "STK",
        "symbol": "SPY",
        "localSymbol": "SPY",
        "exchange": "SMART",
        "primaryExchange": "ARCA",
        "currency": "USD",
    },
    "minTick": 0.01,
}
AAPL_CAPTURE = "ibkr/contract_details/contracts_pkl_2022__AAPL.decoded.json"


class UnsupportedContract(ConfigError):
    """A well-formed contract of a security type nautlive does not trade (options, bonds, ...)."""


def spec_from_contract_details(
    details: Any, fractional: bool = False, source: str = "contract details"
) -> InstrumentSpec:
    """One IB ContractDetails (as a dict) -> InstrumentSpec; a missing or bad key is a ConfigError naming it."""
    if not isinstance(details, dict):
        raise ConfigError(f"{source}: expected a contract details object, got {type(details).__name__}")
    contract = details.get("contract")
    if not isinstance(contract, dict):
        raise ConfigError(f"{source}: contract: missing (expected contract details, not a bare contract or ticker)")
    sec_type = _text(contract, "secType", source)
    if sec_type not in SEC_TYPES:
        raise UnsupportedContract(
            f"{source}: contract.secType: {sec_type} not supported (expected one of STK, CASH, FUT)"
        )
    tick = _positive(details, "minTick", source)
    if tick is None:
        raise ConfigError(f"{source}: minTick: missing")
    step = _positive(details, "sizeIncrement", source)
    minimum = _positive(details, "minSize", source)
    if sec_type == "STK" and not fractional:
        step, minimum = _whole(step), _whole(minimum)
    step, minimum = step or ONE, minimum or ONE
    quote = _text(contract, "currency", source)
    exchange = _venue(contract, sec_type, source)
    return InstrumentSpec(
        instrument_id=f"{_symbol(contract, sec_type, source)}.{exchange}",
        status="TRADING",
        tick_size=tick,
        step_size=step,
        min_qty=minimum,
        price_precision=_precision(tick),
        size_precision=_precision(step),
        base=_text(contract, "symbol", source) if sec_type == "CASH" else None,
        quote=quote,
        exchange=exchange,
    )


def specs_from_contract_details_file(path: str | Path, fractional: bool = False) -> VenueSpecs:
    """A captured reqContractDetails answer (one object or a list), keyed by instrument id.

    Contracts of unsupported security types land in `unreadable`; a malformed file or record is a ConfigError.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: contract details file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a contract details JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    records = raw if isinstance(raw, list) else [raw]
    specs: dict[str, InstrumentSpec] = {}
    unreadable: dict[str, str] = {}
    for index, record in enumerate(records):
        source = f"{path}: [{index}]" if isinstance(raw, list) else str(path)
        try:
            spec = spec_from_contract_details(record, fractional, source)
        except UnsupportedContract as exc:
            unreadable[_label(record, index)] = str(exc).removeprefix(f"{source}: ")
            continue
        specs[spec.instrument_id] = spec
    return VenueSpecs(venue=VENUE, specs=specs, unreadable=unreadable)


def _label(record: dict, index: int) -> str:
    contract = record["contract"]
    return str(contract.get("localSymbol") or contract.get("symbol") or f"[{index}]")


def _symbol(contract: dict, sec_type: str, source: str) -> str:
    local = contract.get("localSymbol") or ""
    if sec_type == "STK":
        return (local or _text(contract, "symbol", source)).replace(" ", "-")
    if sec_type == "CASH":
        return local.replace(".", "/") or f"{_text(contract, 'symbol', source)}/{_text(contract, 'currency', source)}"
    if not _FUT_LOCAL_SYMBOL.match(local):
        raise ConfigError(f"{source}: contract.localSymbol: expected a futures symbol like CLZ2, got {local!r}")
    return local


def _venue(contract: dict, sec_type: str, source: str) -> str:
    """As Nautilus's provider: a SMART-routed contract trades at its primary exchange."""
    exchange = _text(contract, "exchange", source)
    if exchange != "SMART":
        return exchange
    if not contract.get("primaryExchange"):
        raise ConfigError(f"{source}: contract.primaryExchange: empty for a SMART-routed {sec_type} (it is the venue)")
    return str(contract["primaryExchange"])


def _text(contract: dict, key: str, source: str) -> str:
    value = contract.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: contract.{key}: missing (expected a non-empty string)")
    return value


def _positive(details: dict, key: str, source: str) -> Decimal | None:
    """A positive decimal from a JSON number or decimal string; None when absent or unset."""
    value = details.get(key)
    if value is None:
        return None
    try:
        number = None if isinstance(value, bool) else Decimal(str(value))
    except InvalidOperation:
        number = None
    if number == _UNSET_DECIMAL:
        return None
    if number is None or not number.is_finite() or number <= 0:
        raise ConfigError(f"{source}: {key}: expected a positive number, got {value!r}")
    return number


def _whole(value: Decimal | None) -> Decimal | None:
    """Whole shares: a fractional-share increment or minimum becomes None (then 1)."""
    return value if value is not None and value >= 1 and value == value.to_integral_value() else None


def _precision(value: Decimal) -> int:
    """Decimals as Nautilus's IB parser counts them (10 places, trailing zeros dropped): 5e-05 -> 5, 1.0 -> 0."""
    return len(f"{value:.10f}".partition(".")[2].rstrip("0"))


def fetch_specs(profile: VenueProfile) -> VenueSpecs:
    """Ask IB Gateway for the contract details of the profile's instruments (through Nautilus's IB provider)."""
    import queue
    import threading

    ib = ibkr_settings(profile)
    timeout = profile.live.connect_timeout
    check_gateway_reachable(ib.host, ib.port, timeout)
    outcome: queue.Queue = queue.Queue()
    # Nautilus's IB client retries its handshake forever and swallows cancellation, so a gateway that accepts the
    # socket but never answers would hang asyncio.run's cleanup: run it on a daemon thread and stop waiting instead.
    threading.Thread(target=_load_into, args=(outcome, profile, ib), daemon=True, name="ib-contract-details").start()
    try:
        result = outcome.get(timeout=4 * timeout)
    except queue.Empty:
        result = TimeoutError()
    if isinstance(result, TimeoutError):  # Nautilus's wait_until_ready re-raises its own timeout (since 1.227)
        raise RuntimeFailure(
            f"IB Gateway at {ib.host}:{ib.port}: no contract details within {4 * timeout:g} s "
            f"(API enabled? client id {ib.client_id + 100} free?)"
        )
    if isinstance(result, BaseException):
        raise RuntimeFailure(f"IB Gateway at {ib.host}:{ib.port}: contract details request failed: {result}")
    specs = {}
    for info in result:
        spec = spec_from_contract_details(info, source=f"IB Gateway {ib.host}:{ib.port}")
        specs[spec.instrument_id] = spec
    return VenueSpecs(venue=VENUE, specs=specs)


def _load_into(outcome, profile: VenueProfile, ib: IbkrSettings) -> None:  # noqa: ANN001 - queue.Queue
    import asyncio

    try:
        outcome.put(asyncio.new_event_loop().run_until_complete(_load_contract_details(profile, ib)))
    except Exception as exc:  # noqa: BLE001 - reported by the waiting thread as one line
        outcome.put(exc)


async def _load_contract_details(profile: VenueProfile, ib: IbkrSettings) -> list[dict]:
    """Nautilus keeps each instrument's full contract details in `instrument.info`: map those, as for captures."""
    import asyncio

    from nautilus_trader.adapters.interactive_brokers.client import InteractiveBrokersClient
    from nautilus_trader.adapters.interactive_brokers.providers import InteractiveBrokersInstrumentProvider
    from nautilus_trader.cache.cache import Cache
    from nautilus_trader.common.component import LiveClock, MessageBus
    from nautilus_trader.model.identifiers import TraderId

    clock = LiveClock()
    client = InteractiveBrokersClient(
        loop=asyncio.get_running_loop(),
        msgbus=MessageBus(TraderId("NAUTLIVE-001"), clock),
        cache=Cache(),
        clock=clock,
        host=ib.host,
        port=ib.port,
        # A client id of its own, so a spec query does not collide with a running node's session.
        client_id=ib.client_id + 100,
    )
    client.start()
    await client.wait_until_ready(_connection_timeout(profile))
    config = instrument_provider_config(profile)
    provider = InteractiveBrokersInstrumentProvider(client=client, clock=clock, config=config)
    await provider.load_ids_async(list(config.load_ids))
    client.stop()
    return [instrument.info for instrument in provider.list_all()]


def write_catalog(aapl_capture: str | Path, out: str | Path) -> ExecutionMetadataCatalog:
    """The ibkr catalog: AAPL.NASDAQ from its captured contract details, SPY.ARCA from IB's known facts."""
    aapl = specs_from_contract_details_file(aapl_capture).specs["AAPL.NASDAQ"]
    spy = spec_from_contract_details(SPY_DETAILS, source="SPY_DETAILS")
    catalog = ExecutionMetadataCatalog(venue=VENUE, instruments=[aapl, spy])
    save_catalog(catalog, out)
    return catalog


def main(argv: list[str] | None = None) -> None:
    """`python -m nautlive.venues.ibkr [AAPL_CAPTURE] [OUT]`: rewrite artifacts/catalog/ibkr.yaml."""
    args = sys.argv[1:] if argv is None else argv
    shared = Path(os.environ.get("NAUTLIVE_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"))
    capture = Path(args[0]) if args else shared / AAPL_CAPTURE
    out = Path(args[1]) if len(args) > 1 else Path("artifacts/catalog/ibkr.yaml")
    try:
        catalog = write_catalog(capture, out)
    except NautliveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(f"{out}: {', '.join(spec.instrument_id for spec in catalog.instruments)}")

