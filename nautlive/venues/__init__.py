"""Venue adapters: turn what a venue says about its instruments into InstrumentSpecs, and build Nautilus configs."""

from __future__ import annotations

from pathlib import Path

from nautlive.errors import ConfigError
from nautlive.profile import VenueProfile


def check_live_settings(profile: VenueProfile) -> None:
    """LIVE needs keys the venue's user stream accepts (Binance: Ed25519) and to know where that stream is; a
    ConfigError (exit 2) otherwise, before any venue call."""
    if profile.adapter == "binance":
        from nautlive.venues.binance_keys import require_ed25519

        settings, where = profile.binance, profile.source or profile.name
        if settings is None or not settings.api_key:
            raise ConfigError(f"{where}: binance.api_key: LIVE needs the API key (set it in the environment)")
        if settings.base_url_ws and not settings.base_url_ws_api:
            raise ConfigError(f"{where}: binance.base_url_ws_api: needed beside base_url_ws in LIVE: the user stream "
                              "runs on the WebSocket API (e.g. ws://127.0.0.1:8765/ws-api/v3 for `nautlive sim`), "
                              "not on the market streams' host")
        require_ed25519(settings.api_secret, f"{where}: binance.api_secret")


def load_venue_specs(profile: VenueProfile, from_file: str | Path | None = None):
    """The venue's specs for a profile: from a captured file when given, else asked of the venue itself."""
    if profile.adapter == "ibkr":
        from nautlive.venues import ibkr

        if from_file is not None:
            return ibkr.specs_from_contract_details_file(from_file)
        return ibkr.fetch_specs(profile)
    from nautlive.venues import binance

    if from_file is not None:
        return binance.read_exchange_info_file(from_file)
    return binance.fetch_exchange_info(profile.binance.base_url_http if profile.binance else None)


def downloader_for(profile: VenueProfile, interval: str, say):  # noqa: ANN001, ANN201 - say: Callable[[str], None]
    """Where `data download` gets a profile's bars (a nautlive.marketdata.download.Source): IB Gateway's
    reqHistoricalData for IB, Binance's public archive and REST klines otherwise. A setting the venue cannot serve
    (an IB bar size IB does not have) is a ConfigError here, before anything is fetched or written."""
    if profile.adapter == "ibkr":
        from nautlive.venues.ibkr_history import IbHistorySource

        return IbHistorySource(profile, interval, say)
    from nautlive.marketdata.binance_download import BinanceSource
    from nautlive.marketdata.fetch import DEFAULT_ARCHIVE_URL
    from nautlive.venues.binance_urls import endpoints

    settings = profile.binance
    archive = (settings.archive_url if settings else None) or DEFAULT_ARCHIVE_URL
    return BinanceSource(archive, endpoints(settings).http, interval, say)


def prepare_live_start(profile: VenueProfile, say):  # noqa: ANN001, ANN201 - say: Callable[[str], None]
    """LIVE, with the account lock held and before a node connects: what the venue needs done first, or None.

    IB: every open order of the account (ours from an earlier session cancelled and confirmed, the others by
    live.open_orders), as the session's own client id, which the node takes when it is built (venues/ibkr_orders.py).
    Binance does its own in the session, over REST (venues/binance_live.py `prepare_account`)."""
    if profile.adapter != "ibkr":
        return None
    from nautlive.venues.ibkr_orders import prepare_ib_account

    return prepare_ib_account(profile, say)


def snapshot_catalog(profile, from_file, symbols: str | None, all_symbols: bool, out):  # noqa: ANN001
    """Write a catalog of the venue's specs: every symbol, the listed symbols, or the profile's instruments."""
    from nautlive.catalog import ExecutionMetadataCatalog, save_catalog

    specs = load_venue_specs(profile, from_file)
    by_symbol = {spec.symbol: spec for spec in specs.specs.values()}
    if all_symbols:
        chosen = list(by_symbol.values())
    else:
        wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else [
            i.rsplit(".", 1)[0] for i in profile.instruments
        ]
        missing = [s for s in wanted if s not in by_symbol]
        if missing:
            raise ConfigError(f"--symbols: not listed by the venue: {', '.join(missing)}")
        chosen = [by_symbol[s] for s in wanted]
    catalog = ExecutionMetadataCatalog(venue=profile.venue, instruments=chosen)
    save_catalog(catalog, out)
    return catalog
