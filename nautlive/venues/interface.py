"""What a venue is to nautlive: one `Venue` per adapter (venues/binance, venues/ibkr), found by `venue_for(profile)`.

Everything that differs between venues goes through it: reading their specs, the Nautilus clients per mode, the key
of the account lock, what LIVE does before and after the node connects, validation of the profile's section and the
calendar of its bars. Nothing outside nautlive/venues and nautlive/sim asks which adapter a profile uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from nautlive.catalog.specs import InstrumentSpec
from nautlive.errors import ConfigError

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

Say = Callable[[str], None]


class VenueSpecs(msgspec.Struct):
    """What the venue says about its instruments, plus the symbols it sent that could not be read."""

    venue: str
    specs: dict[str, InstrumentSpec]
    unreadable: dict[str, str] = {}


@dataclass(frozen=True)
class VenueClients:
    """The Nautilus client configs and factories a session registers under `name`."""

    name: str
    data_config: Any
    exec_config: Any
    data_factory: type
    exec_factory: type


@dataclass
class LiveStart:
    """What a venue set up inside a LIVE session before the strategy trades: a REST client to close at the end, a
    watcher with `watch`/`settle`/`connection_problem` (or None), and the account as it was found."""

    rest: Any = None
    watcher: Any = None
    account_start: dict | None = None


class Venue:
    """One venue adapter. Subclasses set the class attributes and override what their venue needs."""

    adapter: str = ""  # the profile's `adapter:`
    name: str = ""  # the Nautilus venue of its clients (and of its instruments, unless they are exchanges)
    periods_per_year: int = 365  # bar statistics: a crypto venue trades every day, a stock exchange 252 days
    depth_stream: bool = False  # whether its live market data carries an L2 book (the shadow exchange walks it)
    recovers_fills_after_connect: bool = False  # fills missing from the drift log are read once the node is up
    # whether it takes a post-only LIMIT (Binance LIMIT_MAKER); else a passive order is a plain LIMIT DAY at the touch
    post_only: bool = True

    def missing_extra(self) -> str | None:
        """Why this machine cannot talk to the venue (a missing optional package), or None."""
        return None

    def live_exec_checks(self) -> dict[str, float]:
        """Nautilus's continuous reconciliation for LIVE (LiveExecEngineConfig fields): what the venue's own
        recovery does not cover. None by default."""
        return {}

    def instrument_problem(self, instrument_id: str, venue: str) -> str | None:
        """Why `instrument_id` (whose venue part is `venue`) cannot be traded through this adapter, or None."""
        return None

    def profile_problems(self, profile: VenueProfile) -> Iterator[tuple[str, str]]:
        """(dotted key, problem) for the profile's section of this venue."""
        return iter(())

    def read_specs(self, profile: VenueProfile, from_file: str | Path | None = None) -> VenueSpecs:
        """The venue's specs: from a captured file when given, else asked of the venue itself."""
        raise NotImplementedError

    def spec_from_info(self, info: dict, instrument_id: str) -> InstrumentSpec:
        """The spec of an instrument Nautilus loaded, from the venue's own record of it (`instrument.info`)."""
        raise NotImplementedError

    def clients(self, profile: VenueProfile) -> VenueClients:
        """The venue's Nautilus data and execution clients for a SHADOW or LIVE node."""
        raise NotImplementedError

    def keyless_feed(self, profile: VenueProfile) -> bool:
        """Whether SHADOW reads the venue's public market data without keys (no Nautilus data client)."""
        return False

    def public_data_client(self, profile: VenueProfile) -> tuple[str, Any, type]:
        """(client name, config, data client factory) of the keyless public feed, where `keyless_feed` says so."""
        raise NotImplementedError

    async def fetch_public_specs(self, profile: VenueProfile) -> VenueSpecs:
        """The specs of the profile's instruments from the venue's public, unsigned endpoint."""
        raise NotImplementedError

    def account_key(self, profile: VenueProfile) -> str:
        """What identifies the account the profile trades (it holds secrets: only its hash is ever written)."""
        raise NotImplementedError

    def check_live_settings(self, profile: VenueProfile) -> None:
        """A ConfigError (exit 2) for settings LIVE cannot run with, before any venue call."""

    def check_connection(self, profile: VenueProfile) -> None:
        """Before a session that talks to the venue: that it answers and manages the account (or raise)."""

    def prepare_live_start(self, profile: VenueProfile, say: Say) -> Any:
        """LIVE, with the account lock held and before a node connects: what the venue needs done first, or None."""
        return None

    async def start_live(self, profile: VenueProfile, node: Any, strategy: Any, since: Any, say: Say,
                         finish: Callable[[int, str], None]) -> LiveStart | None:
        """LIVE, once the node is built and before it runs: checks and account preparation done over the venue's
        own API (a NautliveError stops the session with nothing traded)."""
        return None

    async def recover_fills(self, profile: VenueProfile, exec_client: Any, drift: Any, since: Any) -> int:
        """Fills of nautlive's orders missing from the drift log, read from the connected venue and logged."""
        return 0

    def check_data_support(self, profile: VenueProfile, what: str) -> None:
        """A ConfigError when `what` ("record") is not served for this venue."""

    def downloader(self, profile: VenueProfile, interval: str, say: Say) -> Any:
        """Where `data download` gets the profile's bars: a nautlive.data.download.Source. A setting the venue cannot
        serve (a bar size it lacks) is a ConfigError here, before anything is fetched or written."""
        raise ConfigError(f"profile {profile.name}: data download does not serve adapter {self.adapter}")
