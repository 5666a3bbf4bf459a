"""The strategy's config (what it trades and how orders go out) and the report of one rebalance."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from nautilus_trader.config import StrategyConfig


class RebalanceConfig(StrategyConfig, frozen=True):
    """What the strategy trades; the catalog specs, policy and drift monitor are passed to the constructor."""

    instrument_ids: list[str]
    account_venues: list[str]
    quote_currency: str
    price_wait_secs: float = 5.0
    # Shadow sessions on several exchanges (IB) fund one sandbox account per exchange with the whole synthetic cash;
    # the surplus (n - 1) x starting cash is not the strategy's money and is taken off its cash.
    cash_offset: Decimal = Decimal(0)
    # A rebalance whose orders failed for a transient reason is planned again from the account, up to this many times.
    max_attempts: int = 1
    retry_backoff_secs: float = 0.5
    # IOC: what the book cannot fill expires, as a Binance MARKET order. Bars are no book: a bar run keeps GTC so
    # the matching engine fills the rest one tick worse.
    market_tif: str = "IOC"
    # SHADOW on the venue's feed: ask the data client for the L2 book the shadow exchange fills against.
    subscribe_book: bool = False
    # How orders go out (nautlive.core.execution): "market", or "limit_cap" (a LIMIT IOC at the mid at submit +/- the cap).
    execution_style: str = "market"
    max_slippage_bps: Decimal = Decimal("10")
    horizon_secs: float = 300.0  # twap: children every interval_secs over horizon_secs, each child_style
    interval_secs: float = 30.0
    child_style: str = "market"
    patience_secs: float = 20.0  # passive_then_market: the post-only order's time before the rest crosses
    post_only: bool = True  # the venue takes post-only LIMITs (Binance LIMIT_MAKER); else a plain LIMIT DAY (IB)


class RebalanceReport(msgspec.Struct):
    """What one rebalance did, complete when its last order is terminal (the session reads `strategy.reports`)."""

    target_hash: str
    orders: list[dict] = []
    rejected: list[dict] = []
    unfilled: list[dict] = []
    skipped: list[dict] = []
    retried: list[dict] = []  # transient denials/rejections, planned again from the venue's holdings
    expired: list[dict] = []  # market orders the visible book filled only in part: the rest expired
    capped: list[dict] = []  # limit_cap orders the cap left (partly) unfilled: the next rebalance plans the rest again
    refused: str | None = None  # a risk budget stopped this rebalance before any order
    undone: list[dict] = []  # twap / passive parents: what was never sent (a new target, a stop, below the minimum)
    attempts: int = 1
    started_ns: int = 0
    finished_ns: int = 0
