"""LIVE never trades through a blocking mismatch, whatever a profile says, at start and before every rebalance."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from nautlive.config.profile import LiveSettings, RiskSettings, load_profile
from nautlive.session.engine import reconcile_policy
from nautlive.sim.rules import rules_from_symbol
from tests.conftest import REPO, shared_file
from tests.live_helpers import (
    CATALOG,
    D,
    error_line,
    finish,
    order_posts,
    run_live,
    start_live,
    state,
    wait_until,
    weights_at_venue,
    write_targets,
)

SHIPPED = sorted((REPO / "profiles").glob("*.yaml"))
INFO_2022 = ("binance", "exchange_info", "binance_spot_exchange_info_2022-11-28.json")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_shipped_profile_weakens_a_live_safety_default(path, monkeypatch):
    monkeypatch.chdir(REPO)
    profile = load_profile(profile=path)
    assert reconcile_policy(profile, "live", "venue") in ("fail", "strict")
    assert profile.reconcile.on_mismatch in (None, "fail")
    assert profile.reconcile.severity == {}  # no field lowered from BLOCKING to WARNING
    assert profile.live.kill_switch == LiveSettings().kill_switch
    assert profile.live.lock_dir is None  # the per-user, per-account lock
    assert profile.live.open_orders == "fail"
    assert profile.rebalance.max_order_notional is not None and profile.rebalance.max_turnover is not None
    assert profile.risk == RiskSettings()
    assert "arm" not in _keys(yaml.safe_load(path.read_text()))  # arming is the command's flag, never a setting


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    return set()


BINANCE_PROFILES = [p for p in SHIPPED if yaml.safe_load(p.read_text())["adapter"] == "binance"]


@pytest.mark.slow
@pytest.mark.parametrize("path", BINANCE_PROFILES, ids=lambda p: p.stem)
def test_live_refuses_a_blocking_mismatch_for_every_shipped_binance_profile(path, tmp_path):
    """The simulator serves the 2022 capture (BTCUSDT min_notional 10 against the catalog's 5): exit 3, no order."""
    from nautlive.sim.binance import build_simulator
    from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
    from nautlive.sim.server import start_in_thread

    sim = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": D(100_000)}, exchange_info_path=shared_file(*INFO_2022))
    profile = yaml.safe_load(path.read_text())
    profile["catalog"] = str(CATALOG)
    profile["live"] = {"lock_dir": str(tmp_path / "locks"), "connect_timeout": 5}
    with start_in_thread(sim, quote_interval=0.05) as running:
        profile["binance"].update(base_url_http=running.http_url, base_url_ws=running.ws_url,
                                  base_url_ws_api=f"{running.ws_url}/ws-api/v3",
                                  api_key="${NAUTLIVE_TEST_KEY}", api_secret="${NAUTLIVE_TEST_SECRET}")
        (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
        (tmp_path / "targets.json").write_text(json.dumps({"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.2}))
        result = run_live(tmp_path, running, "--arm", "--once", NAUTLIVE_TEST_KEY=SIM_API_KEY,
                          NAUTLIVE_TEST_SECRET=SIM_PRIVATE_KEY)
        posts = order_posts(running)
    assert result.returncode == 3, result.stderr[-3000:]
    line = error_line(result.stderr)
    assert "BTCUSDT.BINANCE min_notional: catalog 5 vs venue 10 (BLOCKING)" in line
    assert "`nautlive reconcile --write-patch` updates the catalog" in line
    assert posts == []


def raise_min_notional(sim, symbol: str, value: str) -> None:  # noqa: ANN001
    """The venue changes a filter mid-session, as Binance does."""
    info = sim.symbol_info[symbol]
    for f in info["filters"]:
        if f["filterType"] in ("NOTIONAL", "MIN_NOTIONAL"):
            f["minNotional"] = value
    sim.rules[symbol] = rules_from_symbol(info)


@pytest.mark.slow
def test_a_blocking_mismatch_appearing_mid_session_stops_that_instrument(venue, session_dir: Path):
    proc = start_live(session_dir, venue, "--arm", "--duration", "60")
    try:
        wait_until(lambda: len(state(venue)["fills"]) == 2, 30, "first rebalance", proc)
        venue.call(raise_min_notional, venue.sim, "BTCUSDT", "10.00000000")
        time.sleep(1.0)
        write_targets(session_dir, {"BTCUSDT.BINANCE": 0.1, "ETHUSDT.BINANCE": 0.4})
        wait_until(lambda: len(state(venue)["fills"]) >= 3, 30, "the ETH buy", proc)
        time.sleep(1.5)
        posts = order_posts(venue)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, stderr = finish(proc, session_dir)
    assert code == 0, stderr[-3000:]
    assert [p["params"]["symbol"] for p in posts[2:]] == ["ETHUSDT"]  # BTC is not traded any more
    assert "BTCUSDT.BINANCE: blocking catalog mismatch min_notional: catalog 5 vs venue 10" in stderr
    assert "nautlive reconcile --write-patch" in stderr
    assert abs(weights_at_venue(venue)["ETHUSDT.BINANCE"] - D("0.4")) < D("0.01")


@pytest.mark.slow
def test_shadow_counts_the_same_budgets_and_reports_them(tmp_path):
    """SHADOW never refuses (it sends nothing real) but says what LIVE would have refused."""
    import subprocess
    import sys

    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    profile.update(catalog=str(CATALOG), risk={"max_turnover_per_day": "1000"})
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    (tmp_path / "targets.json").write_text(json.dumps({"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.2}))
    done = subprocess.run([sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--feed", "synthetic",
                           "--once", "--targets", "targets.json", "--drift-log", "drift.log", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert len({f["client_order_id"] for f in summary["fills"]}) == len(summary["rebalances"][0]["orders"]) == 2
    assert summary["budget_refusals"] and summary["budget_refusals"][0].startswith("daily turnover budget: ")
    assert "Budget would refuse this rebalance in LIVE" in done.stderr


@pytest.mark.slow
def test_a_second_shadow_session_on_the_same_log_logs_its_own_fills(tmp_path):
    """The sandbox numbers its trades from 1 every session: only LIVE's venue trade ids are unique across sessions."""
    import subprocess
    import sys

    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    profile.update(catalog=str(CATALOG))
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    command = [sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--feed", "synthetic", "--once",
               "--targets", "targets.json", "--drift-log", "drift.log", "--json"]
    reported = []
    for weights in ({"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.2}, {"BTCUSDT.BINANCE": 0.6, "ETHUSDT.BINANCE": 0.3}):
        (tmp_path / "targets.json").write_text(json.dumps(weights))
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        reported.append(len(json.loads(done.stdout)["fills"]))
    lines = [json.loads(line) for line in (tmp_path / "drift.log").read_text().splitlines()]
    sessions = [line["session"] for line in lines]
    # the second session's fills are all there, next to the first's
    assert len(set(sessions)) == 2 and [sessions.count(s) for s in dict.fromkeys(sessions)] == reported
    assert len({(line["session"], line["trade_id"]) for line in lines}) == len(lines)
