"""Interactive Brokers as nautlive sees it (the `Venue` of venues/interface.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nautlive.errors import ConfigError
from nautlive.venues.interface import Say, Venue, VenueClients, VenueSpecs

if TYPE_CHECKING:
    from nautlive.catalog.specs import InstrumentSpec
    from nautlive.config.profile import VenueProfile

IB_EXTRA = ("Interactive Brokers needs nautlive's ib extra (the ibapi package): pipx install 'nautlive[ib]' for the "
            "tool (or pipx inject nautlive 'nautilus_trader[ib]==1.231.0'), pip install 'nautlive[ib]' in a virtualenv")


class IbkrVenue(Venue):
    """IB Gateway or TWS: instruments are named by their exchange (AAPL.NASDAQ), the account by host, port and id."""

    adapter = "ibkr"
    name = "INTERACTIVE_BROKERS"
    periods_per_year = 252
    depth_stream = False  # IB quotes are an L1 book
    recovers_fills_after_connect = True
    # IB has no post-only for these orders (Nautilus's IB adapter refuses `post_only`): a passive order is a plain
    # LMT DAY at the touch, which fills as a taker if the touch moved through it on the way
    post_only = False

    def missing_extra(self) -> str | None:
        return IB_EXTRA if importlib.util.find_spec("ibapi") is None else None

    def live_exec_checks(self) -> dict[str, float]:
        # IB does not replay executions to a client that reconnects: an order that filled while the gateway
        # connection was down (a market opening meanwhile) is found by comparing positions, whose missing fills
        # Nautilus then reads (reqExecutions) and applies with their IB execution ids. Checks start 2 s after the
        # start's reconciliation, not Nautilus's 10 s, so a --once run within its fill_timeout gets them.
        return {"position_check_interval_secs": 5.0, "reconciliation_startup_delay_secs": 2.0}

    def instrument_problem(self, instrument_id: str, venue: str) -> str | None:
        if venue in ("BINANCE", self.name):
            return f"{instrument_id}: an IB instrument's venue is its exchange (e.g. AAPL.NASDAQ, SPY.ARCA), not {venue}"
        return None

    def profile_problems(self, profile: VenueProfile) -> Iterator[tuple[str, str]]:
        if profile.ibkr is not None and not 1 <= profile.ibkr.port <= 65535:
            yield "ibkr.port", f"must be a TCP port in 1..65535, got {profile.ibkr.port}"

    def read_specs(self, profile: VenueProfile, from_file: str | Path | None = None) -> VenueSpecs:
        from nautlive.venues.ibkr.contracts import fetch_specs, specs_from_contract_details_file

        return specs_from_contract_details_file(from_file) if from_file is not None else fetch_specs(profile)

    def spec_from_info(self, info: dict, instrument_id: str) -> InstrumentSpec:
        from nautlive.venues.ibkr.contracts import spec_from_contract_details

        return spec_from_contract_details(info, source=f"IB {instrument_id}")

    def clients(self, profile: VenueProfile) -> VenueClients:
        from nautilus_trader.adapters.interactive_brokers.factories import (
            InteractiveBrokersLiveDataClientFactory,
            InteractiveBrokersLiveExecClientFactory,
        )

        from nautlive.venues.ibkr.config import data_client_config, exec_client_config
        from nautlive.venues.ibkr.log_codes import adjust_ib_logging

        adjust_ib_logging()  # IB's farm notices at INFO; executions of orders not in the cache said once, one line
        return VenueClients(self.name, data_client_config(profile), exec_client_config(profile),
                            InteractiveBrokersLiveDataClientFactory, InteractiveBrokersLiveExecClientFactory)

    def account_key(self, profile: VenueProfile) -> str:
        from nautlive.venues.ibkr.config import IbkrSettings

        ib = profile.ibkr or IbkrSettings()
        return f"ibkr|{ib.host.strip().lower()}|{ib.port}|{ib.account_id or ''}"

    def check_connection(self, profile: VenueProfile) -> None:
        from nautlive.venues.ibkr.config import exec_client_config
        from nautlive.venues.ibkr.gateway import check_gateway

        exec_client_config(profile)  # the account must be known before connecting
        check_gateway(profile)  # the handshake answered and the account managed, before any node or order

    def prepare_live_start(self, profile: VenueProfile, say: Say) -> Any:
        """Every open order of the account (ours from an earlier session cancelled and confirmed, the others by
        live.open_orders), as the session's own client id, which the node takes when it is built (orders.py)."""
        from nautlive.venues.ibkr.orders import prepare_ib_account

        return prepare_ib_account(profile, say)

    async def recover_fills(self, profile: VenueProfile, exec_client: Any, drift: Any, since: Any) -> int:
        from nautlive.venues.ibkr.live import recover_fills

        return await recover_fills(exec_client, list(profile.instruments), drift, since, profile.quote_currency)

    def check_data_support(self, profile: VenueProfile, what: str) -> None:
        raise ConfigError(f"profile {profile.name}: {what} serves Binance profiles only so far")

    def downloader(self, profile: VenueProfile, interval: str, say: Say) -> Any:
        """reqHistoricalData through IB Gateway, chunked and paced as IB requires (history.py)."""
        from nautlive.venues.ibkr.history import IbHistorySource

        return IbHistorySource(profile, interval, say)


VENUE = IbkrVenue()
