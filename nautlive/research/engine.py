"""The BacktestEngine of a profile and the strategy it runs: shared by the tick/L2 backtest and the bar backtest."""

from __future__ import annotations

from pathlib import Path

from nautlive.catalog.specs import ExecutionMetadataCatalog
from nautlive.config.profile import VenueProfile
from nautlive.core.execution import strategy_settings
from nautlive.session.engine import exchange_venues, extra_venues_cash
from nautlive.venues import venue_for


def new_engine(profile: VenueProfile, instruments, book: bool = False):  # noqa: ANN001, ANN201
    """A BacktestEngine with the venue as a CASH account (sandbox models) and the instruments, no data or strategy.

    `book`: an L2 book from the data's OrderBookDeltas, orders meeting it after shadow.latency_ms (as SHADOW);
    else an L1 book moved by bars."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.identifiers import Venue

    from nautlive.core.pnl_records import keep_pnl_records_cheap

    engine = BacktestEngine(BacktestEngineConfig(trader_id="BACKTESTER-001", logging=LoggingConfig(log_level="ERROR")))
    keep_pnl_records_cheap(engine.portfolio)
    for venue in exchange_venues(profile):  # IB: one account per exchange, as SHADOW's sandboxes (see cash_offset)
        _add_venue(engine, profile, Venue(venue), book)
    for instrument in instruments:
        engine.add_instrument(instrument)
    return engine


def _add_venue(engine, profile: VenueProfile, venue, book: bool) -> None:  # noqa: ANN001
    from nautilus_trader.backtest.models import FillModel, LatencyModel, MakerTakerFeeModel
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.objects import Money

    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,
        starting_balances=[Money(v, Currency.from_str(k)) for k, v in profile.starting_balances().items()],
        fill_model=FillModel(),
        fee_model=MakerTakerFeeModel(),
        use_message_queue=book,  # the latency model holds commands in the queue; bars: processed at submit
        bar_execution=True,
        book_type=BookType.L2_MBP if book else BookType.L1_MBP,
        latency_model=LatencyModel(int(profile.shadow.latency_ms * 1_000_000)) if book else None,
        liquidity_consumption=book,  # fills take size off the L2 levels until an update of the level resets them
        # A resting order (passive_then_market) fills when the book crosses it, not on public trades at its price:
        # the shadow sandbox keeps trades from its exchange, so both fill it alike.
        trade_execution=not book,
    )


def rebalance_strategy(profile: VenueProfile, ids: list[str], catalog: ExecutionMetadataCatalog,
                       drift_path: Path | None, session: str, market_tif: str = "IOC"):  # noqa: ANN201
    """The NautilusRebalanceStrategy of a backtest, with its drift monitor writing `drift_path` (None: in memory)."""
    from nautlive.core.drift import DriftMonitor
    from nautlive.core.strategy import NautilusRebalanceStrategy, RebalanceConfig

    drift = DriftMonitor(drift_path, session=session, mode="backtest", venue=profile.venue,
                         alert_bps=profile.drift_alert_bps)
    return NautilusRebalanceStrategy(
        RebalanceConfig(instrument_ids=ids, account_venues=exchange_venues(profile), cash_offset=extra_venues_cash(profile),
                        quote_currency=profile.quote_currency,
                        market_tif=market_tif, **strategy_settings(profile.execution),
                        post_only=venue_for(profile).post_only),
        specs={i: catalog.by_id()[i] for i in ids},
        policy=profile.rebalance,
        drift=drift,
    )
