"""A real TradingNode (Binance data + exec clients) against the loopback simulator: fill, venue rejects, WS drop.

`python tests/e2e_sim_node.py RESULT.json` runs the session once and writes what happened as JSON; tests/test_sim.py
asserts on it. It runs in its own process because Nautilus initialises its logging once per process.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
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
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    LoggingConfig,
    StrategyConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.trading.strategy import Strategy

from nautlive.sim.binance import build_simulator
from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.sim.server import RunningSimulator, start_in_thread

REPO = Path(__file__).resolve().parent.parent
BTCUSDT = InstrumentId.from_str("BTCUSDT.BINANCE")
ASK = Decimal("61800.01")
QUOTES_AFTER_RECONNECT = 3
INSUFFICIENT = "Account has insufficient balance for requested action."


class ScenarioStrategy(Strategy):
    """First quote: MARKET BUY 0.01; fill: an order below NOTIONAL; reject: reject_next + BUY; reject: drop WS."""

    def __init__(self, running: RunningSimulator, done: threading.Event) -> None:
        super().__init__(StrategyConfig(strategy_id="SCENARIO-001"))
        self.running = running
        self.done = done
        self.step = "start"
        self.result: dict = {"fills": [], "rejects": [], "quotes": 0, "quotes_after_reconnect": 0}
        self._opened_before_drop = 0

    def on_start(self) -> None:
        instrument = self.cache.instrument(BTCUSDT)
        self.result["instruments"] = sorted(str(i.id) for i in self.cache.instruments())
        self.result["price_precision"] = instrument.price_precision if instrument else None
        self.subscribe_quote_ticks(BTCUSDT)

    def on_quote_tick(self, tick) -> None:  # noqa: ANN001
        self.result["quotes"] += 1
        self.result["last_ask"] = str(tick.ask_price)
        if self.step == "start":
            self.step = "buy"
            self._buy("0.01")
        elif self.step == "drop" and self._sim_state()["connections_opened"] > self._opened_before_drop:
            self.result["quotes_after_reconnect"] += 1
            if self.result["quotes_after_reconnect"] >= QUOTES_AFTER_RECONNECT:
                self.step = "done"
                self.done.set()

    def on_order_filled(self, event) -> None:  # noqa: ANN001
        self.result["fills"].append({"last_px": str(event.last_px), "last_qty": str(event.last_qty),
                                     "commission": str(event.commission), "liquidity": event.liquidity_side.name})
        if self.step == "buy":
            self.step = "notional"
            self._buy("0.00005")  # 3.09 USDT: below the 5 USDT NOTIONAL minimum

    def on_order_rejected(self, event) -> None:  # noqa: ANN001
        self.result["rejects"].append(event.reason)
        if self.step == "notional":
            self.step = "reject_next"
            self.running.call(self.running.sim.reject_next, -2010, INSUFFICIENT)
            self._buy("0.01")
        elif self.step == "reject_next":
            self.step = "drop"
            self._opened_before_drop = self._sim_state()["connections_opened"]
            self.result["dropped"] = self.running.call(self.running.sim.drop_connections)
            self.result["drop_time"] = time.monotonic()

    def on_stop(self) -> None:
        account = self.portfolio.account(Venue("BINANCE"))
        btc = account.balance_total(Currency.from_str("BTC")) if account else None
        self.result["nautilus_btc"] = str(btc.as_decimal()) if btc is not None else None

    def _buy(self, qty: str) -> None:
        instrument = self.cache.instrument(BTCUSDT)
        self.submit_order(self.order_factory.market(BTCUSDT, OrderSide.BUY, instrument.make_qty(Decimal(qty))))

    def _sim_state(self) -> dict:
        with urllib.request.urlopen(self.running.http_url + "/__sim/state", timeout=5) as response:
            return json.loads(response.read())


def node_config(running: RunningSimulator) -> TradingNodeConfig:
    common = dict(
        api_key=SIM_API_KEY,
        api_secret=SIM_PRIVATE_KEY,
        account_type=BinanceAccountType.SPOT,
        base_url_http=running.http_url,
        instrument_provider=InstrumentProviderConfig(load_ids=frozenset(["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"])),
    )
    return TradingNodeConfig(
        trader_id=TraderId("SIMTEST-001"),
        logging=LoggingConfig(log_level="WARNING"),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        # bypass: let an order below NOTIONAL reach the venue, to see the venue's own reject
        risk_engine=LiveRiskEngineConfig(bypass=True, graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(reconciliation=True, graceful_shutdown_on_exception=True),
        data_clients={"BINANCE": BinanceDataClientConfig(base_url_ws=running.ws_url, **common)},
        # the exec client's base_url_ws is the WebSocket API URL (the user stream since Nautilus 1.223)
        exec_clients={"BINANCE": BinanceExecClientConfig(base_url_ws=f"{running.ws_url}/ws-api/v3", **common)},
        timeout_connection=10.0,
        timeout_reconciliation=5.0,
        timeout_portfolio=5.0,
        timeout_disconnection=2.0,
        timeout_post_stop=0.2,
        timeout_shutdown=1.0,
    )


def run_scenario(timeout: float = 45.0) -> dict:
    """Run the session; stops when the scenario is done or after `timeout` seconds."""
    sim = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": Decimal(100_000)},
                          catalog_path=REPO / "artifacts" / "catalog" / "binance.yaml")
    sim.set_quote("BTCUSDT", bid=ASK - Decimal("0.01"), ask=ASK)
    running = start_in_thread(sim)
    done = threading.Event()
    node = TradingNode(config=node_config(running))
    strategy = ScenarioStrategy(running, done)
    node.trader.add_strategy(strategy)
    node.add_data_client_factory("BINANCE", BinanceLiveDataClientFactory)
    node.add_exec_client_factory("BINANCE", BinanceLiveExecClientFactory)
    node.build()
    loop = node.get_event_loop()
    started = time.monotonic()

    def stop_when_done() -> None:
        finished = done.wait(timeout)
        strategy.result["timed_out"] = not finished
        loop.call_soon_threadsafe(node.stop)

    threading.Thread(target=stop_when_done, daemon=True).start()
    try:
        node.run()
    finally:
        node.dispose()
        state = running.call(sim.state)
        running.stop()
    result = strategy.result
    result["seconds"] = round(time.monotonic() - started, 2)
    if "drop_time" in result:
        result["drop_time"] = round(result["drop_time"] - started, 2)
    result["sim_balances"] = state["balances"]
    result["sim_fills"] = state["fills"]
    result["request_paths"] = sorted({f"{r['method']} {r['path']}" for r in state["requests"]})
    return result


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(run_scenario(), indent=1))
