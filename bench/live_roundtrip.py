"""Order submit -> OrderFilled latency of a LIVE TradingNode through the real Binance adapter and the loopback simulator.

A strategy sends 200 small MARKET orders one after another, alternating BUY and SELL, each once the previous one is
filled, and times `submit_order` to `on_order_filled` (time.perf_counter). Baseline, measured in the same run against the
same simulator: the bare REST round trip of POST /api/v3/order (and GET /api/v3/time) with an aiohttp client. The
simulator's user-stream push delay (10 ms, a realism setting) is set to 0 here so the figure is what the adapter and
the engines add, not a sleep.

Run: .venv/bin/python bench/live_roundtrip.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from decimal import Decimal
from pathlib import Path

from nautilus_trader.adapters.binance import (
    BinanceAccountType,
    BinanceDataClientConfig,
    BinanceExecClientConfig,
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
)
from nautilus_trader.config import (
    InstrumentProviderConfig,
    LiveDataClientConfig,
    LiveDataEngineConfig,
    LiveExecClientConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    StrategyConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TraderId
from nautilus_trader.trading.strategy import Strategy

from nautlive.core.pnl_records import keep_pnl_records_cheap
from nautlive.sim.binance import build_simulator
from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.sim.server import RunningSimulator, start_in_thread

REPO = Path(__file__).resolve().parent.parent
BTCUSDT = InstrumentId.from_str("BTCUSDT.BINANCE")
QTY = Decimal("0.001")
ORDERS = 200
WARMUP = 10
GOAL_MS = 25.0


class PingPongStrategy(Strategy):
    """MARKET BUY, then SELL, ... one at a time; records submit -> OrderFilled seconds of each after the warm-up."""

    def __init__(self, instrument: InstrumentId, qty: Decimal | int, total: int) -> None:
        super().__init__(StrategyConfig(strategy_id="BENCH-001"))
        self.instrument = instrument
        self.qty = qty
        self.total = total
        self.done = threading.Event()
        self.latencies: list[float] = []
        self.rejects: list[str] = []
        self._sent = 0
        self._submitted_at = 0.0

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.instrument)

    def on_quote_tick(self, tick) -> None:  # noqa: ANN001
        if self._sent == 0:
            self._send()

    def on_order_filled(self, event) -> None:  # noqa: ANN001
        elapsed = time.perf_counter() - self._submitted_at
        if self._sent > WARMUP:
            self.latencies.append(elapsed)
        if self._sent < self.total:
            self._send()
        else:
            self.done.set()

    def on_order_rejected(self, event) -> None:  # noqa: ANN001
        self.rejects.append(event.reason)
        self.done.set()

    def on_order_denied(self, event) -> None:  # noqa: ANN001
        self.on_order_rejected(event)

    def _send(self) -> None:
        side = OrderSide.BUY if self._sent % 2 == 0 else OrderSide.SELL
        order = self.order_factory.market(self.instrument, side, self.cache.instrument(self.instrument).make_qty(self.qty))
        self._sent += 1
        self._submitted_at = time.perf_counter()
        self.submit_order(order)


def bench_node_config(venue: str, data_client: LiveDataClientConfig, exec_client: LiveExecClientConfig,
                      timeout_connection: float) -> TradingNodeConfig:
    """The node of both round-trip benches, around one venue's data and exec clients."""
    return TradingNodeConfig(
        trader_id=TraderId("BENCH-001"),
        logging=LoggingConfig(log_level="ERROR"),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        # the default 100 submits/s would deny some of these back-to-back orders
        risk_engine=LiveRiskEngineConfig(max_order_submit_rate="1000/00:00:01", graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(reconciliation=True, graceful_shutdown_on_exception=True),
        data_clients={venue: data_client},
        exec_clients={venue: exec_client},
        timeout_connection=timeout_connection,
        timeout_reconciliation=5.0,
        timeout_portfolio=5.0,
        timeout_disconnection=2.0,
        timeout_post_stop=0.2,
        timeout_shutdown=1.0,
    )


def ping_pong_latencies(config: TradingNodeConfig, factories: tuple[type, type], strategy: PingPongStrategy,
                        timeout: float) -> list[float]:
    """Run a TradingNode with `strategy` until it is done or `timeout` s pass; SystemExit unless every fill was timed."""
    (venue,) = config.data_clients
    node = TradingNode(config=config)
    node.trader.add_strategy(strategy)
    node.add_data_client_factory(venue, factories[0])
    node.add_exec_client_factory(venue, factories[1])
    node.build()
    keep_pnl_records_cheap(node.portfolio)  # as nautlive's own nodes: no pd.concat per closed position
    loop = node.get_event_loop()
    threading.Thread(target=lambda: (strategy.done.wait(timeout), loop.call_soon_threadsafe(node.stop)),
                     daemon=True).start()
    try:
        node.run()
    finally:
        node.dispose()
    if strategy.rejects or len(strategy.latencies) != strategy.total - WARMUP:
        raise SystemExit(f"bench failed: {len(strategy.latencies)} fills timed, rejects {strategy.rejects[:3]}")
    return strategy.latencies


def node_latencies(running: RunningSimulator, timeout: float = 60.0) -> list[float]:
    common = dict(
        api_key=SIM_API_KEY,
        api_secret=SIM_PRIVATE_KEY,  # Ed25519: the simulator, as Binance, takes no other key for the user stream
        account_type=BinanceAccountType.SPOT,
        base_url_http=running.http_url,
        instrument_provider=InstrumentProviderConfig(load_ids=frozenset([str(BTCUSDT)])),
    )
    data = BinanceDataClientConfig(**common, base_url_ws=running.ws_url, update_instruments_interval_mins=None)
    execution = BinanceExecClientConfig(**common, base_url_ws=f"{running.ws_url}/ws-api/v3", max_retries=0)
    config = bench_node_config("BINANCE", data, execution, timeout_connection=10.0)
    factories = (BinanceLiveDataClientFactory, BinanceLiveExecClientFactory)
    return ping_pong_latencies(config, factories, PingPongStrategy(BTCUSDT, QTY, ORDERS + WARMUP), timeout)


async def rest_latencies(running: RunningSimulator) -> tuple[list[float], list[float]]:
    """POST /api/v3/order (alternating MARKET BUY/SELL) and GET /api/v3/time round trips with one aiohttp session."""
    import aiohttp

    orders, times = [], []
    async with aiohttp.ClientSession() as client:
        for i in range(ORDERS + WARMUP):
            side = "BUY" if i % 2 == 0 else "SELL"
            url = (f"{running.http_url}/api/v3/order?symbol=BTCUSDT&side={side}&type=MARKET&quantity={QTY}"
                   f"&newClientOrderId=REST-{i}")
            started = time.perf_counter()
            async with client.post(url) as response:
                body = await response.json()
            elapsed = time.perf_counter() - started
            if body.get("status") != "FILLED":
                raise SystemExit(f"baseline order not filled: {body}")
            started = time.perf_counter()
            async with client.get(f"{running.http_url}/api/v3/time") as response:
                await response.read()
            if i >= WARMUP:
                orders.append(elapsed)
                times.append(time.perf_counter() - started)
    return orders, times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def main() -> None:
    sim = build_simulator(["BTCUSDT"], {"USDT": Decimal(100_000), "BTC": Decimal(1)},
                          catalog_path=REPO / "artifacts" / "catalog" / "binance.yaml")
    sim.set_quote("BTCUSDT", bid=Decimal("61800.00"), ask=Decimal("61800.01"))
    with start_in_thread(sim, quote_interval=0.1) as running:
        hub = sim.on_user_event.__self__  # the server's Hub: no simulated push delay for this measurement
        running.call(setattr, hub, "event_delay", 0.0)
        rest_orders, rest_times = asyncio.run(rest_latencies(running))
        node = node_latencies(running)
    p50, p99 = statistics.median(node), percentile(node, 0.99)
    base = statistics.median(rest_orders)
    ratio = p50 / base
    print(f"LIVE node, submit -> OrderFilled, {ORDERS} MARKET orders:  p50 {ms(p50)} ms  p99 {ms(p99)} ms  "
          f"(max {ms(max(node))} ms)")
    print(f"baseline aiohttp POST /api/v3/order round trip:         p50 {ms(base)} ms  "
          f"p99 {ms(percentile(rest_orders, 0.99))} ms")
    print(f"baseline aiohttp GET /api/v3/time round trip:           p50 {ms(statistics.median(rest_times))} ms")
    print(f"ratio node p50 / REST order p50: {ratio:.1f} (goal: node p50 < {GOAL_MS:g} ms)")
    print(json.dumps({"name": "live_roundtrip", "value": ms(p50), "unit": "ms p50", "baseline": "aiohttp POST order p50",
                      "baseline_value": ms(base), "ratio": round(ratio, 1), "goal": f"p50 < {GOAL_MS:g} ms",
                      "met": ms(p50) < GOAL_MS}))


if __name__ == "__main__":
    main()
