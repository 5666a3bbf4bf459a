"""Order submit -> OrderFilled latency of a LIVE TradingNode through Nautilus's real IB adapter and the loopback TWS
venue (nautlive.sim.tws), beside the same figure through the real Binance adapter and the Binance simulator.

A strategy sends 100 MARKET orders of 1 AAPL share one after another, alternating BUY and SELL, each once the previous
one is filled, and times `submit_order` to `on_order_filled` (the PingPong strategy of bench/live_roundtrip.py). The
Binance figure is measured in the same run, in a subprocess (Nautilus sets its logging up once per process), with the
same strategy and order count.

Run: .venv/bin/python bench/ib_roundtrip.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from live_roundtrip import WARMUP, PingPongStrategy, bench_node_config, ms, percentile, ping_pong_latencies
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
    InteractiveBrokersInstrumentProviderConfig,
    SymbologyMethod,
)
from nautilus_trader.adapters.interactive_brokers.factories import (
    InteractiveBrokersLiveDataClientFactory,
    InteractiveBrokersLiveExecClientFactory,
)
from nautilus_trader.live.config import RoutingConfig
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import RunningTws, start_in_thread

REPO = Path(__file__).resolve().parent.parent
AAPL = InstrumentId.from_str("AAPL.NASDAQ")
ORDERS = 100
IB = "INTERACTIVE_BROKERS"
GOAL_MS = 25.0


def ib_latencies(running: RunningTws, timeout: float = 120.0) -> list[float]:
    provider = InteractiveBrokersInstrumentProviderConfig(load_ids=frozenset([AAPL]),
                                                          symbology_method=SymbologyMethod.IB_SIMPLIFIED)
    common = dict(ibg_host=running.host, ibg_port=running.port, ibg_client_id=1, instrument_provider=provider)
    config = bench_node_config(
        IB, InteractiveBrokersDataClientConfig(**common),
        InteractiveBrokersExecClientConfig(**common, account_id="DU123456", routing=RoutingConfig(default=True)),
        timeout_connection=15.0,
    )
    factories = (InteractiveBrokersLiveDataClientFactory, InteractiveBrokersLiveExecClientFactory)
    return ping_pong_latencies(config, factories, PingPongStrategy(AAPL, 1, ORDERS + WARMUP), timeout)


BINANCE_SIDE = f"""
import json, statistics
from decimal import Decimal
import live_roundtrip as b
b.ORDERS = {ORDERS}
sim = b.build_simulator(["BTCUSDT"], {{"USDT": Decimal(100_000), "BTC": Decimal(1)}},
                        catalog_path=b.REPO / "artifacts" / "catalog" / "binance.yaml")
sim.set_quote("BTCUSDT", bid=Decimal("61800.00"), ask=Decimal("61800.01"))
with b.start_in_thread(sim, quote_interval=0.1) as running:
    running.call(setattr, sim.on_user_event.__self__, "event_delay", 0.0)
    node = b.node_latencies(running)
print(json.dumps({{"p50": statistics.median(node), "p99": b.percentile(node, 0.99)}}))
"""


def binance_figures() -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", BINANCE_SIDE], cwd=Path(__file__).parent, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"Binance side failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    sim = build_tws_simulator([str(AAPL)], REPO / "artifacts" / "catalog" / "ibkr.yaml", contracts=[])
    with start_in_thread(sim, quote_interval=0.1) as running:
        running.call(sim.set_quote, 265598, Decimal("190.00"), Decimal("190.01"))
        ib = ib_latencies(running)
    binance = binance_figures()
    p50, p99 = statistics.median(ib), percentile(ib, 0.99)
    ratio = p50 / binance["p50"]
    print(f"LIVE node on the TWS sim, submit -> OrderFilled, {ORDERS} MKT orders:  p50 {ms(p50)} ms  "
          f"p99 {ms(p99)} ms  (max {ms(max(ib))} ms)")
    print(f"LIVE node on the Binance sim, same strategy, {ORDERS} MARKET orders:  p50 {ms(binance['p50'])} ms  "
          f"p99 {ms(binance['p99'])} ms")
    print(f"ratio IB p50 / Binance p50: {ratio:.2f} (goal: IB p50 < {GOAL_MS:g} ms)")
    print(json.dumps({"name": "ib_roundtrip", "value": ms(p50), "unit": "ms p50", "baseline": "Binance sim p50",
                      "baseline_value": ms(binance["p50"]), "ratio": round(ratio, 2), "goal": f"p50 < {GOAL_MS:g} ms",
                      "met": ms(p50) < GOAL_MS}))


if __name__ == "__main__":
    main()
