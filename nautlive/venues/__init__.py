"""Venue adapters: turn what a venue says about its instruments into InstrumentSpecs, and build Nautilus configs."""

from __future__ import annotations

from pathlib import Path

from nautlive.profile import VenueProfile


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
