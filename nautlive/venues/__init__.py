"""Venues: one interface (interface.py: what a venue is to nautlive) and one sub-package per venue (binance, ibkr).

`venue_for(profile)` is the only place that maps a profile's adapter to its venue; everything else asks the Venue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile
    from nautlive.venues.interface import Venue

ADAPTERS = ("binance", "ibkr")


def venue_for(profile: VenueProfile | str) -> Venue:
    """The Venue of a profile (or of an adapter name); each venue's package is imported only when asked for."""
    adapter = profile if isinstance(profile, str) else profile.adapter
    if adapter == "binance":
        from nautlive.venues.binance.venue import VENUE
    elif adapter == "ibkr":
        from nautlive.venues.ibkr.venue import VENUE
    else:
        raise ConfigError(f"adapter: {adapter!r} is not a venue nautlive knows ({', '.join(ADAPTERS)})")
    return VENUE


def all_venues() -> list[Venue]:
    return [venue_for(adapter) for adapter in ADAPTERS]


def reconcile_profile(profile, from_file=None, catalog_path=None):  # noqa: ANN001, ANN201
    """Load the profile's catalog, get the venue's specs, compare: (catalog, venue specs, result)."""
    from nautlive.catalog.reconcile import compare
    from nautlive.catalog.specs import load_catalog

    catalog = load_catalog(catalog_path or profile.catalog)
    specs = venue_for(profile).read_specs(profile, from_file)
    result = compare(catalog, specs.specs, specs.unreadable, profile.reconcile.severity)
    return catalog, specs, result


def snapshot_catalog(profile, from_file, symbols: str | None, all_symbols: bool, out):  # noqa: ANN001
    """Write a catalog of the venue's specs: every symbol, the listed symbols, or the profile's instruments."""
    from nautlive.catalog.specs import ExecutionMetadataCatalog, save_catalog

    specs = venue_for(profile).read_specs(profile, from_file)
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
