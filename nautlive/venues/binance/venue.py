"""Binance Spot as nautlive sees it (the `Venue` of venues/interface.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from nautlive.errors import ConfigError
from nautlive.venues.binance.urls import endpoints, url_problem
from nautlive.venues.interface import LiveStart, Say, Venue, VenueClients, VenueSpecs

if TYPE_CHECKING:
    from nautlive.catalog.specs import InstrumentSpec
    from nautlive.config.profile import VenueProfile

URL_SCHEMES = {"base_url_http": ("http", "https"), "base_url_ws": ("ws", "wss"), "base_url_ws_api": ("ws", "wss")}


class BinanceVenue(Venue):
    """Binance Spot: every instrument is SYMBOL.BINANCE; the account is the REST endpoint and the API key."""

    adapter = "binance"
    name = "BINANCE"
    periods_per_year = 365
    depth_stream = True

    def instrument_problem(self, instrument_id: str, venue: str) -> str | None:
        if venue != self.name:
            return f"{instrument_id} is not a Binance instrument (adapter binance trades SYMBOL.BINANCE)"
        return None

    def profile_problems(self, profile: VenueProfile) -> Iterator[tuple[str, str]]:
        settings = profile.binance
        if settings is None:
            return
        for field, schemes in URL_SCHEMES.items():
            url = getattr(settings, field)
            problem = url_problem(url, schemes) if url is not None else None
            if problem:
                yield f"binance.{field}", problem
        if settings.testnet and settings.environment != "live":
            yield "binance.testnet", "set environment: testnet (or demo) and drop testnet: true, not both"
        yield from _secret_problems(settings.api_secret)

    def read_specs(self, profile: VenueProfile, from_file: str | Path | None = None) -> VenueSpecs:
        from nautlive.venues.binance.specs import fetch_exchange_info, read_exchange_info_file

        if from_file is not None:
            return read_exchange_info_file(from_file)
        return fetch_exchange_info(profile.binance.base_url_http if profile.binance else None)

    def spec_from_info(self, info: dict, instrument_id: str) -> InstrumentSpec:
        from nautlive.venues.binance.specs import spec_from_symbol_info

        return spec_from_symbol_info(info)

    def clients(self, profile: VenueProfile) -> VenueClients:
        from nautilus_trader.adapters.binance import BinanceLiveDataClientFactory, BinanceLiveExecClientFactory

        from nautlive.venues.binance.config import data_client_config, exec_client_config
        from nautlive.venues.binance.schema import tolerate_unknown_types_in_the_adapter

        tolerate_unknown_types_in_the_adapter()  # a filter type Binance adds must not stop the instrument loading
        return VenueClients(self.name, data_client_config(profile), exec_client_config(profile),
                            BinanceLiveDataClientFactory, BinanceLiveExecClientFactory)

    def keyless_feed(self, profile: VenueProfile) -> bool:
        """Without keys SHADOW reads Binance's public market data, no signed call (public.py)."""
        return not profile.has_keys()

    def public_data_client(self, profile: VenueProfile) -> tuple[str, Any, type]:
        from nautlive.venues.binance.public import PublicDataClientFactory, PublicFeedConfig, public_urls

        http_url, ws_url = public_urls(profile)
        config = PublicFeedConfig(instrument_ids=list(profile.instruments), http_url=http_url, ws_url=ws_url)
        return self.name, config, PublicDataClientFactory

    async def fetch_public_specs(self, profile: VenueProfile) -> VenueSpecs:
        from nautlive.venues.binance.public import fetch_public_specs, public_urls

        symbols = [iid.rsplit(".", 1)[0] for iid in profile.instruments]
        return await fetch_public_specs(public_urls(profile)[0], symbols)

    def account_key(self, profile: VenueProfile) -> str:
        """`binance|<REST endpoint>|<sha256 of the API key, first 16 hex>`."""
        settings = profile.binance
        endpoint = endpoints(settings).http
        key_hash = hashlib.sha256(((settings.api_key if settings else None) or "").encode()).hexdigest()[:16]
        return f"binance|{endpoint.strip().rstrip('/').lower()}|{key_hash}"

    def check_live_settings(self, profile: VenueProfile) -> None:
        """LIVE needs keys the user stream accepts (Ed25519) and to know where that stream is."""
        from nautlive.venues.binance.keys import require_ed25519

        settings, where = profile.binance, profile.source or profile.name
        if settings is None or not settings.api_key:
            raise ConfigError(f"{where}: binance.api_key: LIVE needs the API key (set it in the environment)")
        if settings.base_url_ws and not settings.base_url_ws_api:
            raise ConfigError(f"{where}: binance.base_url_ws_api: needed beside base_url_ws in LIVE: the user stream "
                              "runs on the WebSocket API (e.g. ws://127.0.0.1:8765/ws-api/v3 for `nautlive sim`), "
                              "not on the market streams' host")
        require_ed25519(settings.api_secret, f"{where}: binance.api_secret")

    async def start_live(self, profile: VenueProfile, node: Any, strategy: Any, since: Any, say: Say,
                         finish: Callable[[int, str], None]) -> LiveStart:
        """The key's rights, then the account over REST (open orders, fills missing from the log), then the watcher
        of the user stream and Nautilus's REST calls kept under the venue's limits (live.py, guard.py)."""
        from nautlive.venues.binance.guard import guard_node
        from nautlive.venues.binance.live import LiveVenue, check_key, prepare_account
        from nautlive.venues.binance.rest import BinanceRest

        rest = BinanceRest.for_profile(profile)
        started = LiveStart(rest=rest)
        try:
            await check_key(rest, profile, say)
            account = await prepare_account(rest, list(profile.instruments), profile.live.open_orders, strategy.drift,
                                            since, profile.quote_currency, say)
        except BaseException:
            await rest.close()
            raise
        started.account_start = msgspec.to_builtins(account)
        started.watcher = LiveVenue(rest, next(iter(node.kernel.exec_engine._clients.values())),
                                    list(profile.instruments), strategy._specs, profile.quote_currency, strategy.log)
        guard_node(node, rest.base_url, finish)  # Nautilus's REST calls too: Retry-After, weight, a ban stops
        return started

    def downloader(self, profile: VenueProfile, interval: str, say: Say) -> Any:
        """The public data archive (`binance.archive_url`) for whole months and days, REST klines for the rest."""
        from nautlive.venues.binance.archive import DEFAULT_ARCHIVE_URL
        from nautlive.venues.binance.download import BinanceSource

        settings = profile.binance
        archive = (settings.archive_url if settings else None) or DEFAULT_ARCHIVE_URL
        return BinanceSource(archive, endpoints(settings).http, interval, say)


def _secret_problems(secret: str | None) -> Iterator[tuple[str, str]]:
    """A PEM that cannot be the private key (encrypted, public, damaged) is refused in every mode."""
    if not secret:
        return
    from nautlive.venues.binance.keys import ed25519_private_key

    try:
        ed25519_private_key(secret, "binance.api_secret")
    except ConfigError as exc:
        key, _, problem = str(exc).partition(": ")
        yield key, problem


VENUE = BinanceVenue()
