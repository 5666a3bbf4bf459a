"""Issue #31 on IB: `twap` (MKT children), `passive_then_market` (a plain LMT DAY at the touch: IB has no post-only
for these orders and Nautilus's IB adapter refuses `post_only`) and `limit_cap` (LMT IOC, at gateways 223 and 176) LIVE
--once through Nautilus's IB adapter against the loopback TWS venue, reaching the target in whole shares or saying
what the cap left."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest
import yaml

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import start_in_thread
from tests.test_ibkr_live import (
    CATALOG,
    GATEWAYS,
    INSTRUMENTS,
    TARGETS,
    D,
    control,
    live,
    placed,
    state,
    weights_at_venue,
    write_profile,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def tws(request):  # noqa: ANN001 - a gateway of 223 unless a test parametrizes it indirectly
    version = getattr(request, "param", 223)
    with start_in_thread(build_tws_simulator(INSTRUMENTS, CATALOG, server_version=version),
                         quote_interval=0.1) as running:
        yield running


@pytest.fixture
def ib_dir(tmp_path: Path, tws) -> Path:  # noqa: ANN001
    write_profile(tmp_path, tws)
    (tmp_path / "targets.json").write_text(json.dumps({"weights": TARGETS}))
    return tmp_path


def use_execution(directory: Path, **execution: object) -> None:
    profile = yaml.safe_load((directory / "profile.yaml").read_text())
    profile["execution"] = execution
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))


def assert_on_target(tws) -> None:  # noqa: ANN001
    for symbol, weight in weights_at_venue(tws).items():
        target = D(str(TARGETS[f"{symbol}.{'NASDAQ' if symbol == 'AAPL' else 'ARCA'}"]))
        assert abs(weight - target) < D("0.01"), symbol


@pytest.mark.parametrize("quiet", [False, True], ids=["quoting", "quotes pinned"])
def test_ib_live_once_twap_sends_mkt_children_and_reaches_the_target(ib_dir, tws, quiet):
    """Pinned quotes are a quiet feed (no tick after the first): the children still fall due, by the clock."""
    for symbol, quote in state(tws)["quotes"].items() if quiet else ():
        control(tws, "POST", f"/__sim/quote?symbol={symbol}&bid={quote['bid']}&ask={quote['ask']}")
    use_execution(ib_dir, style="twap", horizon_secs=2, interval_secs=1, child="market")
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    orders = state(tws)["orders"]
    assert len(placed(tws)) == 4 and {o["status"] for o in orders} == {"Filled"}  # 2 children x 2 instruments
    assert_on_target(tws)
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert len({f["parent_order_id"] for f in logged}) == 2 and {f["style"] for f in logged} == {"twap"}


def test_ib_live_once_passive_rests_a_lmt_at_the_touch_then_reaches_the_target(ib_dir, tws):
    use_execution(ib_dir, style="passive_then_market", patience_secs=2)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert placed(tws) and all(o["order_type"] in ("LMT", "MKT") for o in state(tws)["orders"])
    assert any(o["order_type"] == "LMT" for o in state(tws)["orders"])
    assert_on_target(tws)
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert logged and {f["style"] for f in logged} == {"passive_then_market"}


def pin_quotes(tws, aapl_ask_size: int) -> None:  # noqa: ANN001
    """Quotes that stay put (one tick either side of the mid): SPY's touch holds 5000 shares, AAPL's ask as given."""
    control(tws, "POST", "/__sim/quote?symbol=SPY&bid=450.00&ask=450.02&bid_size=5000&ask_size=5000")
    control(tws, "POST", f"/__sim/quote?symbol=AAPL&bid=190.00&ask=190.02&bid_size=5000&ask_size={aapl_ask_size}")


def ioc_orders(tws) -> list[dict]:  # noqa: ANN001
    orders = state(tws)["orders"]
    assert orders and {(o["order_type"], o["tif"]) for o in orders} == {("LMT", "IOC")}
    return orders


@pytest.mark.parametrize("tws", GATEWAYS, ids=lambda version: f"gateway-{version}", indirect=True)
def test_ib_live_once_limit_cap_sends_lmt_ioc_within_the_cap_and_reaches_the_target(ib_dir, tws):
    use_execution(ib_dir, style="limit_cap", max_slippage_bps=10)
    pin_quotes(tws, aapl_ask_size=5000)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    orders = ioc_orders(tws)
    assert len(orders) == 2 and {o["status"] for o in orders} == {"Filled"}
    assert {D(str(o["lmt_price"])) for o in orders} == {D("190.20"), D("450.46")}  # mid + 10 bps, inward to the tick
    assert_on_target(tws)
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert len(logged) == 2 and {f["style"] for f in logged} == {"limit_cap"}


@pytest.mark.parametrize("tws", GATEWAYS, ids=lambda version: f"gateway-{version}", indirect=True)
def test_ib_live_once_limit_cap_reports_what_a_thin_touch_left_and_exits_1(ib_dir, tws):
    """AAPL's ask shows 100 shares: the LMT IOC buys those and IB cancels the rest at once (orderStatus Cancelled with
    the filled part); the session says what the cap left and exits 1, as documented."""
    use_execution(ib_dir, style="limit_cap", max_slippage_bps=10)
    pin_quotes(tws, aapl_ask_size=100)
    proc = live(ib_dir, "--once")
    assert proc.returncode == 1, proc.stderr[-3000:]
    line = json.loads(proc.stdout)
    assert "1 order(s) left in part by the price cap (execution limit_cap)" in json.dumps(line)
    aapl = [o for o in ioc_orders(tws) if o["con_id"] == 265598]
    assert len(aapl) == 1 and aapl[0]["status"] == "Cancelled" and D(aapl[0]["filled"]) == 100
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert len(logged) == len(state(tws)["executions"]) == 2


@contextlib.contextmanager
def ticking(tws, aapl_ask_size: int):  # noqa: ANN001, ANN201
    """The pinned quotes published again every 0.2 s (a pinned quote is sent once; a TWAP child falls due on a quote,
    so a touch that never ticks would hold the children back)."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            pin_quotes(tws, aapl_ask_size)

    pin_quotes(tws, aapl_ask_size)
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def test_ib_live_once_twap_with_limit_cap_children_sends_lmt_ioc_children_and_reaches_the_target(ib_dir, tws):
    use_execution(ib_dir, style="twap", horizon_secs=2, interval_secs=1, child="limit_cap", max_slippage_bps=10)
    with ticking(tws, aapl_ask_size=5000):
        proc = live(ib_dir, "--once")
    assert proc.returncode == 0, proc.stderr[-3000:]
    orders = ioc_orders(tws)
    assert len(orders) == 4 and {o["status"] for o in orders} == {"Filled"}  # 2 children x 2 instruments
    assert_on_target(tws)
    logged = [json.loads(line) for line in (ib_dir / "drift.log").read_text().splitlines()]
    assert len({f["parent_order_id"] for f in logged}) == 2 and {f["style"] for f in logged} == {"twap"}
