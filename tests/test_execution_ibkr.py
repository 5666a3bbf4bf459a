"""Issue #31 on IB: `twap` (MKT children) and `passive_then_market` (a plain LMT DAY at the touch: IB has no post-only
for these orders and Nautilus's IB adapter refuses `post_only`) LIVE --once through Nautilus's IB adapter against the
loopback TWS venue, reaching the target in whole shares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.server import start_in_thread
from tests.test_ibkr_live import CATALOG, INSTRUMENTS, TARGETS, D, live, placed, state, weights_at_venue, write_profile

pytestmark = pytest.mark.slow


@pytest.fixture
def tws():
    with start_in_thread(build_tws_simulator(INSTRUMENTS, CATALOG, server_version=223), quote_interval=0.1) as running:
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


def test_ib_live_once_twap_sends_mkt_children_and_reaches_the_target(ib_dir, tws):
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
