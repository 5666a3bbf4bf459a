"""Offline feeds: the recorded Binance reader on real files, the synthetic walk, both live data clients in a node."""

import gzip
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from nautilus_trader.model.data import QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.objects import Price, Quantity

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.data.depth import LADDER_TOP_NOTIONAL
from nautlive.data.feeds import (
    ReplayDataClientFactory,
    ReplayFeedConfig,
    iter_synthetic_quotes,
    reference_price,
    synthetic_quotes,
)
from nautlive.data.recorded import read_recorded, replay_ticks
from nautlive.errors import ConfigError

from .conftest import REPO, shared_file

BTC_FILE = ("binance", "market", "btcusdt_20240808.gz")
ETH_FILE = ("binance", "market", "ethusdt_20240808.gz")
START_NS = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def instruments():
    catalog = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml")
    return {spec.symbol: spec_to_instrument(spec) for spec in catalog.instruments}


def plain_json_reference(path):
    """What a plain gzip + json loop sees: (kind, receive ns, data) of each bookTicker and trade line."""
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            ns, _, payload = line.partition(" ")
            msg = json.loads(payload)
            stream = msg.get("stream", "")
            if stream.endswith("@bookTicker"):
                out.append(("quote", int(ns), msg["data"]))
            elif stream.endswith("@trade"):
                out.append(("trade", int(ns), msg["data"]))
    return out


def write_recording(tmp_path, lines: list[str], name="btcusdt_test.gz"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def head_lines(n: int) -> list[str]:
    with gzip.open(shared_file(*BTC_FILE), "rt") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


# ---------------------------------------------------------------- reader on real files


def test_reader_matches_plain_json_loop(instruments):
    path = shared_file(*BTC_FILE)
    reference = plain_json_reference(path)
    ticks = read_recorded(path, instruments, kinds=("quotes", "trades"))

    assert [type(t) for t in ticks] == [QuoteTick if kind == "quote" else TradeTick for kind, _, _ in reference]
    assert len(ticks) > 30_000
    assert [t.ts_init for t in ticks] == [ns for _, ns, _ in reference]
    assert all(t.ts_event == t.ts_init for t in ticks)
    assert all(a.ts_init <= b.ts_init for a, b in zip(ticks, ticks[1:], strict=False))


def test_quotes_equal_price_from_str_reference(instruments):
    path = shared_file(*BTC_FILE)
    reference = [(ns, d) for kind, ns, d in plain_json_reference(path) if kind == "quote"]
    quotes = read_recorded(path, instruments, kinds=("quotes",))

    assert len(quotes) == len(reference)
    for tick, (ns, d) in [(quotes[0], reference[0]), (quotes[-1], reference[-1]), (quotes[777], reference[777])]:
        assert tick == QuoteTick(
            instrument_id=instruments["BTCUSDT"].id,
            bid_price=Price.from_str(d["b"]),
            ask_price=Price.from_str(d["a"]),
            bid_size=Quantity.from_str(d["B"]),
            ask_size=Quantity.from_str(d["A"]),
            ts_event=ns,
            ts_init=ns,
        )
        assert (str(tick.bid_price), str(tick.ask_size)) == (d["b"], d["A"])
        assert tick.bid_price.precision == tick.ask_size.precision == 8


def test_trades_carry_id_price_and_aggressor(instruments):
    path = shared_file(*BTC_FILE)
    reference = [(ns, d) for kind, ns, d in plain_json_reference(path) if kind == "trade"]
    trades = read_recorded(path, instruments, kinds=("trades",))

    assert len(trades) == len(reference)
    for tick, (ns, d) in zip(trades[:200], reference[:200], strict=True):
        assert (str(tick.price), str(tick.size), tick.trade_id.value) == (d["p"], d["q"], str(d["t"]))
        assert tick.aggressor_side == (AggressorSide.SELLER if d["m"] else AggressorSide.BUYER)
        assert tick.ts_init == ns


def test_unknown_symbols_are_skipped(instruments):
    assert read_recorded(shared_file(*BTC_FILE), {"ETHUSDT": instruments["ETHUSDT"]}) == []


def test_replay_ticks_merge_files_in_time_order(instruments):
    btc, eth = shared_file(*BTC_FILE), shared_file(*ETH_FILE)
    merged = replay_ticks([btc, eth], instruments, kinds=("quotes",))

    assert len(merged) == len(read_recorded(btc, instruments, ("quotes",))) + len(
        read_recorded(eth, instruments, ("quotes",))
    )
    assert {str(t.instrument_id) for t in merged} == {"BTCUSDT.BINANCE", "ETHUSDT.BINANCE"}
    assert all(a.ts_init <= b.ts_init for a, b in zip(merged, merged[1:], strict=False))


def test_huge_values_are_read_exactly(tmp_path, instruments):
    quote = (
        '{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT",'
        '"b":"61837.63000000","B":"98765432.12345678","a":"61837.64000000","A":"1.00000000"}}'
    )
    path = write_recording(tmp_path, [f"1723161254087891268 {quote}"])

    (tick,) = read_recorded(path, instruments, kinds=("quotes",))

    assert tick.bid_size == Quantity.from_str("98765432.12345678")


# ---------------------------------------------------------------- broken recordings


def test_not_gzip_is_a_config_error(tmp_path, instruments):
    path = tmp_path / "btcusdt_x.gz"
    path.write_text("1723161254087891268 {}\n")
    with pytest.raises(ConfigError, match=r"btcusdt_x\.gz: not a complete gzip file"):
        read_recorded(path, instruments)


def test_truncated_gzip_is_a_config_error(tmp_path, instruments):
    good = write_recording(tmp_path, head_lines(50))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(ConfigError, match=r"cut\.gz: not a complete gzip file"):
        read_recorded(cut, instruments)


def test_missing_file_is_a_config_error(tmp_path, instruments):
    with pytest.raises(ConfigError, match="recording not found"):
        read_recorded(tmp_path / "nope.gz", instruments)


@pytest.mark.parametrize("bad", ["no timestamp here", "", "1723161254087891268{}", "17231612 [1,2]"])
def test_line_not_in_format_names_file_and_line(tmp_path, instruments, bad):
    lines = head_lines(20)
    lines[16] = bad
    path = write_recording(tmp_path, lines)
    with pytest.raises(ConfigError, match=r"btcusdt_test\.gz: line 17: expected '<ns> <json>'"):
        read_recorded(path, instruments)


def test_first_line_is_checked_too(tmp_path, instruments):
    path = write_recording(tmp_path, ["garbage", *head_lines(3)])
    with pytest.raises(ConfigError, match="line 1: expected"):
        read_recorded(path, instruments)


def test_broken_book_ticker_json_names_the_line(tmp_path, instruments):
    lines = head_lines(20)
    row = next(i for i, line in enumerate(lines) if "@bookTicker" in line)
    lines[row] = lines[row].replace('"b":"', '"b":')
    path = write_recording(tmp_path, lines)
    with pytest.raises(ConfigError, match=rf"line {row + 1}: expected a bookTicker message"):
        read_recorded(path, instruments)


@pytest.mark.parametrize(("marker", "broken", "what"), [
    ("@depth@100ms", ('"u":', '"u":"x",'), "a depthUpdate message"),
    ('{"lastUpdateId"', ('"lastUpdateId":', '"lastUpdateId":"x",'), "a depth snapshot"),
])
def test_broken_depth_line_or_snapshot_names_the_line(tmp_path, instruments, marker, broken, what):
    lines = head_lines(20)
    row = next(i for i, line in enumerate(lines) if marker in line)
    lines[row] = lines[row].replace(*broken, 1)
    path = write_recording(tmp_path, lines)
    with pytest.raises(ConfigError, match=rf"line {row + 1}: expected {what}"):
        read_recorded(path, instruments)


def test_unknown_kind_is_a_config_error(instruments):
    with pytest.raises(ConfigError, match="kinds"):
        read_recorded(REPO / "whatever.gz", instruments, kinds=("bars",))


# ---------------------------------------------------------------- synthetic walk


def test_synthetic_walk_is_deterministic_per_seed(instruments):
    btc = instruments["BTCUSDT"]
    first = synthetic_quotes(btc, Decimal(61800), n=300, start_ns=START_NS, step_ns=100_000_000, seed=7)
    again = synthetic_quotes(btc, Decimal(61800), n=300, start_ns=START_NS, step_ns=100_000_000, seed=7)
    other = synthetic_quotes(btc, Decimal(61800), n=300, start_ns=START_NS, step_ns=100_000_000, seed=8)

    assert first == again
    assert [q.bid_price for q in first] != [q.bid_price for q in other]


def test_synthetic_generator_and_list_forms_agree(instruments):
    eth = instruments["ETHUSDT"]
    listed = synthetic_quotes(eth, Decimal(2600), n=50, start_ns=START_NS, step_ns=1_000, seed=3)
    stream = iter_synthetic_quotes(eth, Decimal(2600), start_ns=START_NS, step_ns=1_000, seed=3)

    assert [next(stream) for _ in range(50)] == listed
    assert [q.ts_init for q in listed] == [START_NS + i * 1_000 for i in range(50)]


def test_synthetic_quotes_are_on_the_tick_grid_with_the_ladder_top_size(instruments):
    btc = instruments["BTCUSDT"]
    quotes = synthetic_quotes(btc, Decimal(61800), n=500, start_ns=START_NS, step_ns=1, seed=1)
    tick = btc.price_increment.as_decimal()

    for q in quotes:
        bid, ask = q.bid_price.as_decimal(), q.ask_price.as_decimal()
        assert bid % tick == 0 and ask % tick == 0
        assert tick <= ask - bid <= 3 * tick
        assert q.bid_price.precision == btc.price_precision == 8
        assert float(q.bid_size) * 61800 == pytest.approx(LADDER_TOP_NOTIONAL, rel=1e-3)
    assert Decimal(55000) < quotes[-1].bid_price.as_decimal() < Decimal(70000)


def test_reference_prices():
    assert reference_price("BTCUSDT.BINANCE") == Decimal(61800)
    assert reference_price("ETHUSDT.BINANCE") == Decimal(2600)
    assert reference_price("AAPL.NASDAQ") == Decimal(220)
    assert reference_price("SPY.ARCA") == Decimal(560)
    assert reference_price("XYZ.BINANCE") == Decimal(100)


# ---------------------------------------------------------------- live data clients in a real TradingNode

NODE_SCRIPT = r"""
import json, sys, threading
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.config import LoggingConfig, TradingNodeConfig
from nautilus_trader.live.config import LiveDataEngineConfig, LiveExecEngineConfig, LiveRiskEngineConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import InstrumentId

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.data.feeds import ReplayDataClientFactory, ReplayFeedConfig, SyntheticDataClientFactory, SyntheticFeedConfig

feed, catalog_path, wanted, speed, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
BTC = InstrumentId.from_str("BTCUSDT.BINANCE")


class QuoteCounter(Actor):
    def __init__(self, stop):
        super().__init__(ActorConfig(component_id="QuoteCounter"))
        self.quotes, self._stop = [], stop

    def on_start(self):
        self.subscribe_quote_ticks(BTC)

    def on_quote_tick(self, tick):
        self.quotes.append(tick)
        if len(self.quotes) == wanted:
            self._stop()


if feed == "synthetic":
    name, factory, feed_config = "SYNTH", SyntheticDataClientFactory, SyntheticFeedConfig(interval_secs=0.01, seed=5)
else:
    name, factory, feed_config = "REPLAY", ReplayDataClientFactory, ReplayFeedConfig(paths=paths, speed=speed)
config = TradingNodeConfig(
    trader_id="FEEDS-001",
    logging=LoggingConfig(log_level="ERROR"),  # the logger shares stdout with the result line
    data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
    risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
    exec_engine=LiveExecEngineConfig(reconciliation=False, graceful_shutdown_on_exception=True),
    data_clients={name: feed_config},
    timeout_connection=5.0, timeout_reconciliation=1.0, timeout_portfolio=1.0, timeout_disconnection=1.0,
    timeout_post_stop=0.2, timeout_shutdown=1.0,
)
node = TradingNode(config=config)
for spec in load_catalog(catalog_path).instruments:
    node.kernel.cache.add_instrument(spec_to_instrument(spec))
loop = node.get_event_loop()
counter = QuoteCounter(stop=lambda: loop.call_soon(node.stop))
node.trader.add_actor(counter)
node.add_data_client_factory(name, factory)
node.build()
deadline = threading.Timer(60, lambda: loop.call_soon_threadsafe(node.stop))
deadline.start()
node.run()
deadline.cancel()
cached = node.kernel.cache.quote_tick(BTC)  # before dispose(), which empties the cache
node.dispose()
q = counter.quotes
print(json.dumps({
    "count": len(q),
    "ids": sorted({str(t.instrument_id) for t in q}),
    "precisions": sorted({t.bid_price.precision for t in q} | {t.ask_size.precision for t in q}),
    "first": [str(q[0].bid_price), str(q[0].ask_price), str(q[0].bid_size), q[0].ts_init] if q else None,
    "cached_bid": str(cached.bid_price) if q else None,
}))
sys.exit(0)
"""


def run_node(feed: str, wanted: int, speed: float = 0, *paths) -> dict:
    """One TradingNode per process: Nautilus initialises its logger once per process."""
    catalog = REPO / "artifacts" / "catalog" / "binance.yaml"
    proc = subprocess.run(
        [sys.executable, "-c", NODE_SCRIPT, feed, str(catalog), str(wanted), str(speed), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_synthetic_client_feeds_a_trading_node(instruments):
    result = run_node("synthetic", 20)

    assert result["count"] >= 20  # a few more may arrive while the node stops
    assert result["ids"] == ["BTCUSDT.BINANCE"]
    assert result["precisions"] == [8]
    first = synthetic_quotes(instruments["BTCUSDT"], Decimal(61800), n=1, start_ns=0, step_ns=1, seed=5)[0]
    assert result["first"][:3] == [str(first.bid_price), str(first.ask_price), str(first.bid_size)]


@pytest.mark.slow
def test_replay_client_feeds_a_trading_node_the_recorded_quotes(instruments):
    btc, eth = shared_file(*BTC_FILE), shared_file(*ETH_FILE)
    expected = [
        t
        for t in replay_ticks([btc, eth], instruments)
        if isinstance(t, QuoteTick) and t.instrument_id.symbol.value == "BTCUSDT"
    ]

    result = run_node("replay", len(expected), 0, btc, eth)

    assert result["count"] == len(expected)
    assert result["ids"] == ["BTCUSDT.BINANCE"]
    assert result["precisions"] == [8]
    first = expected[0]
    assert result["first"] == [str(first.bid_price), str(first.ask_price), str(first.bid_size), first.ts_init]
    assert result["cached_bid"] == str(expected[-1].bid_price)


@pytest.mark.slow
def test_paced_replay_emits_in_recorded_order(instruments):
    btc = shared_file(*BTC_FILE)
    expected = read_recorded(btc, instruments, kinds=("quotes",))[0]

    result = run_node("replay", 30, 50.0, btc)

    assert result["count"] >= 30  # a few more arrive while the node stops
    assert result["first"] == [
        str(expected.bid_price),
        str(expected.ask_price),
        str(expected.bid_size),
        expected.ts_init,
    ]


def test_replay_client_refuses_missing_recordings(tmp_path):
    config = ReplayFeedConfig(paths=[str(tmp_path / "gone.gz")])
    with pytest.raises(ConfigError, match=r"replay feed: paths: recording not found: .*gone\.gz"):
        ReplayDataClientFactory.create(None, "REPLAY", config, None, None, None)
