"""LIVE against the loopback venue serving a 2026-style exchangeInfo: the shipped profile trades through a relaxation,
refuses a doubled minimum notional before any order, adopts relaxations when told, and `on_mismatch: fail` still
refuses a WARNING row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nautlive.catalog.specs import load_catalog
from nautlive.sim.binance import build_simulator
from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.sim.server import start_in_thread
from tests import exchange_info_2026 as info26
from tests.conftest import REPO
from tests.live_helpers import (
    BAND,
    CATALOG,
    TARGETS,
    D,
    error_line,
    order_posts,
    run_live,
    weights_at_venue,
    write_targets,
)

pytestmark = pytest.mark.slow
KEYS = {"NAUTLIVE_TEST_KEY": SIM_API_KEY, "NAUTLIVE_TEST_SECRET": SIM_PRIVATE_KEY}  # the simulator's throwaway key


def venue_serving(tmp_path: Path, changes: dict):  # noqa: ANN201
    capture = info26.capture(tmp_path / "info-2026.json", changes)
    sim = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": D(100_000)}, exchange_info_path=capture)
    return start_in_thread(sim, quote_interval=0.05)


def shipped_profile(tmp_path: Path, running, **reconcile) -> Path:  # noqa: ANN001
    """profiles/binance.yaml as shipped, pointed at the simulator, with a catalog of its own (a copy of the shipped)."""
    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    catalog = tmp_path / "catalog.yaml"
    catalog.write_bytes(CATALOG.read_bytes())
    profile["catalog"] = str(catalog)
    profile["live"] = {"lock_dir": str(tmp_path / "locks"), "connect_timeout": 5, "fill_timeout": 10,
                       "stop_timeout": 3}
    profile["binance"].update(base_url_http=running.http_url, base_url_ws=running.ws_url,
                              base_url_ws_api=f"{running.ws_url}/ws-api/v3",
                              api_key="${NAUTLIVE_TEST_KEY}", api_secret="${NAUTLIVE_TEST_SECRET}")
    if reconcile:
        profile["reconcile"] = reconcile
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    write_targets(tmp_path, TARGETS)
    return catalog


def test_the_shipped_profile_trades_through_a_relaxed_venue(tmp_path):
    with venue_serving(tmp_path, info26.MARKET_MAX_UP) as running:
        catalog = shipped_profile(tmp_path, running)
        result = run_live(tmp_path, running, "--arm", "--once", "--summary", "summary.json", **KEYS)
        posts, weights = order_posts(running), weights_at_venue(running)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["mismatches"] == [{"instrument": "BTCUSDT.BINANCE", "field": "market_max_qty",
                                      "catalog": "168.82682004", "venue": "180.64469744", "severity": "INFO"}]
    assert summary["adopted"] == [] and catalog.read_bytes() == CATALOG.read_bytes()
    assert len(posts) == 2
    for iid, weight in weights.items():
        assert abs(weight - D(str(TARGETS[iid]))) <= BAND, (iid, weight)


def test_a_doubled_min_notional_refuses_before_any_order(tmp_path):
    with venue_serving(tmp_path, info26.MIN_NOTIONAL_DOUBLED) as running:
        shipped_profile(tmp_path, running)
        result = run_live(tmp_path, running, "--arm", "--once", **KEYS)
        posts = order_posts(running)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "BTCUSDT.BINANCE min_notional: catalog 5 vs venue 10 (BLOCKING): nothing traded" in error_line(result.stderr)
    assert posts == []


def test_adopt_relaxed_writes_the_catalog_before_trading(tmp_path):
    with venue_serving(tmp_path, info26.MARKET_MAX_UP) as running:
        catalog = shipped_profile(tmp_path, running, adopt="relaxed")
        result = run_live(tmp_path, running, "--arm", "--once", "--summary", "summary.json", **KEYS)
    assert result.returncode == 0, result.stderr[-3000:]
    line = f"adopted BTCUSDT.BINANCE market_max_qty: 168.82682004 -> 180.64469744 into {catalog}"
    assert result.stderr.count(line) >= 1
    assert "1 catalog fields adopted from the venue" in result.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["adopted"] == [
        {"instrument": "BTCUSDT.BINANCE", "field": "market_max_qty", "catalog": "168.82682004",
         "venue": "180.64469744", "severity": "INFO"}]
    assert load_catalog(catalog).get("BTCUSDT.BINANCE").market_max_qty == D("180.64469744")
    assert (tmp_path / "catalog.yaml.bak").read_bytes() == CATALOG.read_bytes()


def test_on_mismatch_fail_still_refuses_a_warning_row(tmp_path):
    """tickSize "0.01" where Binance sends "0.01000000": the same tick, but Nautilus's price precision 2, not 8."""
    changes = {("BTCUSDT", "PRICE_FILTER"): {"tickSize": "0.01"}}
    with venue_serving(tmp_path, changes) as running:
        shipped_profile(tmp_path, running, on_mismatch="fail")
        result = run_live(tmp_path, running, "--arm", "--once", **KEYS)
        posts = order_posts(running)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "BTCUSDT.BINANCE price_precision: catalog 8 vs venue 2 (WARNING)" in error_line(result.stderr)
    assert posts == []


def test_keyless_shadow_adopts_relaxed_before_trading(tmp_path):
    """The same startup path in SHADOW on the venue's public data (no keys, no user stream)."""
    import subprocess
    import sys

    from tests.live_helpers import live_env

    with venue_serving(tmp_path, info26.MARKET_MAX_UP) as running:
        catalog = shipped_profile(tmp_path, running, adopt="relaxed")
        profile = yaml.safe_load((tmp_path / "profile.yaml").read_text())
        profile["binance"].update(api_key="", api_secret="")
        (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
        done = subprocess.run([sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--targets",
                               "targets.json", "--drift-log", "drift.log", "--once", "--json"], cwd=tmp_path,
                              env=live_env(running), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert [(m["field"], m["severity"]) for m in summary["mismatches"]] == [("market_max_qty", "INFO")]
    assert [(m["instrument"], m["field"], m["venue"]) for m in summary["adopted"]] == [
        ("BTCUSDT.BINANCE", "market_max_qty", "180.64469744")]
    assert f"adopted BTCUSDT.BINANCE market_max_qty: 168.82682004 -> 180.64469744 into {catalog}" in done.stderr
    assert load_catalog(catalog).get("BTCUSDT.BINANCE").market_max_qty == D("180.64469744")
    assert (tmp_path / "catalog.yaml.bak").read_bytes() == CATALOG.read_bytes()
    assert summary["fills"]


def test_a_session_loads_instruments_past_a_filter_type_nautilus_does_not_know(tmp_path):
    """Nautilus's adapter decodes exchangeInfo whole: one unknown filter type used to load zero instruments and end
    the session ("venue not ready"). SHADOW with keys loads them through the adapter, as LIVE does."""
    import subprocess
    import sys

    from tests.live_helpers import live_env

    changes = {(name, "MAX_NUM_ORDER_PEGS"): {"maxNumOrderPegs": 3} for name in ("BTCUSDT", "ETHUSDT")}
    with venue_serving(tmp_path, changes) as running:
        shipped_profile(tmp_path, running)
        done = subprocess.run([sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--targets",
                               "targets.json", "--drift-log", "drift.log", "--once", "--feed", "venue", "--json"],
                              cwd=tmp_path, env={**live_env(running), **KEYS}, capture_output=True, text=True,
                              timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["mismatches"] == [] and len(summary["fills"]) == 2


def test_keyless_shadow_trades_on_what_it_adopted(tmp_path):
    """Keyless SHADOW builds its instruments from the catalog: after adopting a lower minimum notional (5 -> 1) the
    instruments follow, so a 3 USDT order the adopted catalog allows is filled, not denied by the old minimum."""
    import subprocess
    import sys

    from tests.live_helpers import live_env

    with venue_serving(tmp_path, {("BTCUSDT", "NOTIONAL"): {"minNotional": "1.00000000"}}) as running:
        shipped_profile(tmp_path, running, adopt="relaxed")
        profile = yaml.safe_load((tmp_path / "profile.yaml").read_text())
        profile["binance"].update(api_key="", api_secret="")
        profile["rebalance"]["band"] = "0"
        (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
        write_targets(tmp_path, {"BTCUSDT.BINANCE": 0.00003})  # about 3 USDT of 100,000
        done = subprocess.run([sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--targets",
                               "targets.json", "--drift-log", "drift.log", "--once", "--json"], cwd=tmp_path,
                              env=live_env(running), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert [(m["field"], m["venue"]) for m in summary["adopted"]] == [("min_notional", "1")]
    assert len(summary["fills"]) == 1 and D("1") < D(summary["fills"][0]["notional"]) < D("5")
