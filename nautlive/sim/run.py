"""`nautlive sim`: serve the loopback venue of a profile's adapter until a stop signal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import signal

    from nautlive.config.profile import VenueProfile


@dataclass(frozen=True)
class SimOptions:
    """The command's options; `port` None: the venue's usual port (Binance sim 8765, IB Gateway 4002)."""

    host: str = "127.0.0.1"
    port: int | None = None
    control_port: int = 4003
    catalog: Path | None = None
    account: str | None = None
    contracts: list[Path] | None = None
    exchange_info: Path | None = None
    replay: list[Path] | None = None
    balances: str | None = None
    seed: int = 0
    server_version: int | None = None


def serve_profile(profile: VenueProfile, options: SimOptions) -> signal.Signals | None:
    """Serve the TWS API venue for an IB profile, the Binance Spot simulator otherwise; the signal that stopped it."""
    if profile.adapter == "ibkr":
        from nautlive.sim.tws import tws_simulator_for_profile
        from nautlive.sim.tws.server import run_tws

        tws = tws_simulator_for_profile(profile, catalog=options.catalog, contracts=options.contracts,
                                        account=options.account, balances=options.balances, seed=options.seed,
                                        server_version=options.server_version)
        return run_tws(tws, options.host, 4002 if options.port is None else options.port, options.control_port)
    from nautlive.sim.binance import simulator_for_profile
    from nautlive.sim.feed import read_recording
    from nautlive.sim.server import run_simulator

    simulator = simulator_for_profile(profile, catalog=options.catalog, exchange_info=options.exchange_info,
                                      balances=options.balances, seed=options.seed)
    recordings = [read_recording(path) for path in options.replay or []]
    return run_simulator(simulator, options.host, 8765 if options.port is None else options.port, recordings)
