"""The loopback Binance Spot simulator, built from a catalog, an exchangeInfo capture or a venue profile.

`build_simulator` and `simulator_for_profile` make a BinanceSimulator; `parse_balances` reads `--balances`. The
simulator itself lives in its modules (wire: records, errors and JSON shapes · market and books: touches, L2 books
and feeds · public: market-data answers · account and exchange: balances, orders, the walk of the book · venue:
BinanceSimulator with listen keys and faults) and its names are re-exported here, so
`from nautlive.sim.binance import BinanceSimulator` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from nautlive.errors import ConfigError
from nautlive.sim.rules import DEFAULT_HEADER, read_exchange_info, symbol_from_spec
from nautlive.sim.venue import BinanceSimulator
from nautlive.sim.wire import (
    BinanceReject,
    Fill,
    Rejected,
    SimOrder,
    execution_report,
    fill_json,
    order_json,
    wrap_stream,
)

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

__all__ = [
    "BinanceReject",
    "BinanceSimulator",
    "Fill",
    "Rejected",
    "SimOrder",
    "build_simulator",
    "execution_report",
    "fill_json",
    "order_json",
    "parse_balances",
    "simulator_for_profile",
    "wrap_stream",
]


def parse_balances(text: str) -> dict[str, Decimal]:
    """ "USDT=100000,BTC=0" -> {"USDT": Decimal("100000"), "BTC": Decimal("0")}; bad syntax is a ConfigError."""
    balances: dict[str, Decimal] = {}
    for part in text.split(","):
        asset, sep, amount = part.strip().partition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = None
        if not sep or not asset.strip().isalnum() or value is None or not value.is_finite() or value < 0:
            expected = "ASSET=AMOUNT[,ASSET=AMOUNT...] like USDT=100000,BTC=0"
            raise ConfigError(f"--balances: expected {expected}, got {part!r}")
        balances[asset.strip().upper()] = value
    return balances


def build_simulator(
    symbols_wanted: Iterable[str],
    balances: Mapping[str, Decimal],
    *,
    catalog_path: str | Path | None = None,
    exchange_info_path: str | Path | None = None,
    taker_fee: Decimal = Decimal("0.001"),
    seed: int = 0,
) -> BinanceSimulator:
    """A simulator with the symbols of an exchangeInfo capture (else of the catalog), quoting `symbols_wanted`."""
    from nautlive.catalog.specs import load_catalog

    wanted = list(symbols_wanted)
    if exchange_info_path is not None:
        header, symbols = read_exchange_info(exchange_info_path)
        source = str(exchange_info_path)
    elif catalog_path is not None:
        catalog = load_catalog(catalog_path)
        header, symbols, source = DEFAULT_HEADER, [symbol_from_spec(s) for s in catalog.instruments], str(catalog_path)
    else:
        raise ConfigError("simulator: give a catalog or an exchangeInfo file to take the symbols from")
    known = {s.get("symbol") for s in symbols}
    missing = [name for name in wanted if name not in known]
    if missing:
        raise ConfigError(f"{source}: no symbol {', '.join(missing)} (instruments of the profile)")
    sim = BinanceSimulator(symbols, balances, taker_fee=taker_fee, header=header, seed=seed)
    for name in wanted:
        sim.ensure_book(name)
    return sim


def simulator_for_profile(
    profile: VenueProfile,
    *,
    catalog: str | Path | None = None,
    exchange_info: str | Path | None = None,
    balances: str | None = None,
    seed: int = 0,
) -> BinanceSimulator:
    """The venue a profile trades against: its instruments quoted, its catalog's (or a capture's) symbols and fee."""
    if profile.adapter != "binance":
        raise ConfigError(f"profile {profile.name}: adapter {profile.adapter}: the simulator speaks Binance only")
    return build_simulator(
        [instrument_id.rsplit(".", 1)[0] for instrument_id in profile.instruments],
        parse_balances(balances) if balances is not None else profile.starting_balances(),
        catalog_path=None if exchange_info is not None else (catalog or profile.catalog),
        exchange_info_path=exchange_info,
        taker_fee=profile.taker_fee,
        seed=seed,
    )

