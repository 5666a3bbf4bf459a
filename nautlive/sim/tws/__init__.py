"""A loopback TWS venue: speaks the TWS API socket protocol so Nautilus's real IB adapter runs offline (`nautlive sim
--venue ibkr`). It plays a current IB Gateway (server version 223: protobuf from 201 on) or, with `server_version`,
an older one; each connection negotiates min(the venue's maximum, the client's).

protocol: negotiation, text and protobuf framing, field reader · requests / proto_requests: client -> server
messages as text / protobuf · messages (+ protos): server -> client messages, text at a version or protobuf · market:
contracts and the quote walk · account: cash, positions, orders, fills · records: orders and executions · venue:
TwsSimulator (requests answered, changes pushed, faults) · venue_account: account, position, execution and completed
order requests · session: one client connection · controls: the HTTP control port (/__sim/...) · server: serving,
`start_in_thread`.

Contract details come from real captures (decoded JSON as in ../shared/data/ibkr/contract_details/) when one names a
profile instrument, else from the catalog's record (SPY.ARCA has no capture).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile
    from nautlive.sim.tws.venue import TwsSimulator

DEFAULT_ACCOUNT = "DU123456"
CAPTURES = ("ibkr", "contract_details")


def shared_captures() -> list[Path]:
    """The captured contract details of ../shared/data (or $NAUTLIVE_SHARED_DATA), when this machine has them."""
    root = os.environ.get("NAUTLIVE_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[4] / "shared" / "data"
    folder = base.joinpath(*CAPTURES)
    return sorted(folder.glob("*.decoded.json")) if folder.is_dir() else []


def read_captures(paths: Iterable[Path], strict: bool) -> dict[str, dict]:
    """Instrument id -> contract details dict, from decoded captures (one object or a list per file).

    strict: a file that is not contract details is a ConfigError (files named on the command line); otherwise it
    is skipped (the shared folder also holds tickers and bare contracts)."""
    from nautlive.venues.ibkr.contracts import spec_from_contract_details

    found: dict[str, dict] = {}
    for path in paths:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            if strict:
                raise ConfigError(f"{path}: cannot read contract details: {exc}") from None
            continue
        for record in raw if isinstance(raw, list) else [raw]:
            try:
                spec = spec_from_contract_details(record, source=str(path))
            except ConfigError:
                if strict:
                    raise
                continue
            found[spec.instrument_id] = _clean(record)
    return found


def _clean(record: dict) -> dict:
    """A capture as the venue serves it: ib_insync's class markers dropped."""
    details = {k: v for k, v in record.items() if k != "__class__"}
    details["contract"] = {k: v for k, v in record["contract"].items() if k != "__class__"}
    return details


def build_tws_simulator(
    instruments: list[str],
    catalog_path: str | Path,
    *,
    contracts: Iterable[Path] | None = None,
    account: str = DEFAULT_ACCOUNT,
    balances: Mapping[str, Decimal] | None = None,
    seed: int = 0,
    server_version: int | None = None,
) -> TwsSimulator:
    """A venue quoting `instruments`: captured contract details where given, the catalog's record otherwise; it
    negotiates up to `server_version` (default: a current IB Gateway's, 223)."""
    from nautlive.catalog.specs import load_catalog
    from nautlive.sim.tws.account import Account
    from nautlive.sim.tws.market import Market, details_from_spec
    from nautlive.sim.tws.protocol import SERVER_VERSION, check_venue_version
    from nautlive.sim.tws.venue import TwsSimulator

    try:
        version = check_venue_version(SERVER_VERSION if server_version is None else server_version)
    except ValueError as exc:
        raise ConfigError(f"--server-version: {exc}") from None

    captured = read_captures(contracts, strict=True) if contracts is not None else read_captures(shared_captures(),
                                                                                                   strict=False)
    by_id = load_catalog(catalog_path).by_id()
    details = []
    for iid in instruments:
        if iid in captured:
            details.append(captured[iid])
        elif iid in by_id:
            details.append(details_from_spec(by_id[iid]))
        else:
            raise ConfigError(f"{catalog_path}: no record for {iid} and no captured contract details name it")
    market = Market(details, seed=seed)
    return TwsSimulator(Account(account, dict(balances or {"USD": Decimal(100_000)}), market), market, version)


def tws_simulator_for_profile(
    profile: VenueProfile,
    *,
    catalog: str | Path | None = None,
    contracts: Iterable[Path] | None = None,
    account: str | None = None,
    balances: str | None = None,
    seed: int = 0,
    server_version: int | None = None,
) -> TwsSimulator:
    """The venue an IB profile trades against: its instruments, its catalog, its account (else DU123456)."""
    from nautlive.sim.binance import parse_balances

    if profile.adapter != "ibkr":
        raise ConfigError(f"profile {profile.name}: adapter {profile.adapter}: the TWS simulator speaks IB only")
    ib_account = account or (profile.ibkr.account_id if profile.ibkr else None) or DEFAULT_ACCOUNT
    return build_tws_simulator(
        list(profile.instruments), catalog or profile.catalog, contracts=contracts, account=ib_account,
        balances=parse_balances(balances) if balances is not None else profile.starting_balances(), seed=seed,
        server_version=server_version)
