"""SHADOW without keys on the venue's feed (#18): the public market data of `nautlive sim`, no signed call, no key,
the catalog reconciled against the public exchangeInfo, fills against the venue's L2 book."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests.live_helpers import CATALOG, live_env, state

pytestmark = pytest.mark.slow


def keyless_profile(session_dir: Path, catalog: Path = CATALOG) -> None:
    profile = yaml.safe_load((session_dir / "profile.yaml").read_text())
    profile["binance"].update(api_key="", api_secret="")
    profile["catalog"] = str(catalog)
    (session_dir / "profile.yaml").write_text(yaml.safe_dump(profile))


def shadow_once(session_dir: Path, venue) -> subprocess.CompletedProcess:  # noqa: ANN001
    command = [sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--targets", "targets.json",
               "--drift-log", "drift.log", "--once", "--json"]
    return subprocess.run(command, cwd=session_dir, env=live_env(venue), capture_output=True, text=True, timeout=90)


def test_keyless_shadow_trades_to_target_on_public_data_with_no_signed_call(venue, session_dir):
    keyless_profile(session_dir)
    done = shadow_once(session_dir, venue)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no API keys: shadow on the venue's public market data (no signed call, no key sent)" in done.stderr
    summary = json.loads(done.stdout)
    for iid, row in summary["final_weights"].items():
        assert abs(Decimal(row["weight"]) - Decimal(row["target"])) <= Decimal("0.01"), (iid, row)
    assert summary["fills"] and summary["mismatches"] == []
    requests = state(venue)["requests"]
    paths = {r["path"] for r in requests}
    assert {"/api/v3/exchangeInfo", "/api/v3/depth"} <= paths
    assert not [r for r in requests if r["signed"] or r["api_key"]], "a signed call or a key reached the venue"
    assert "/api/v3/order" not in paths and "/api/v3/account" not in paths  # fills are simulated here


def test_keyless_shadow_refuses_a_blocking_catalog_mismatch_with_the_public_specs(venue, session_dir):
    catalog = yaml.safe_load(CATALOG.read_text())
    for record in catalog["instruments"]:
        if record["instrument_id"] == "BTCUSDT.BINANCE":
            record["min_notional"] = "1"  # the venue says 5: it would reject an order the catalog allows
    (session_dir / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    keyless_profile(session_dir, session_dir / "catalog.yaml")
    done = shadow_once(session_dir, venue)
    assert done.returncode == 3, done.stderr[-3000:]
    assert "min_notional" in done.stderr
    assert not (session_dir / "drift.log").exists() or not (session_dir / "drift.log").read_text()


def test_keyless_shadow_with_the_venue_down_exits_1_before_any_node(session_dir):
    keyless_profile(session_dir)
    env = live_env(None, port=9)  # nothing listens on the discard port
    done = subprocess.run([sys.executable, "-m", "nautlive", "shadow", "--profile", "profile.yaml", "--targets",
                           "targets.json", "--drift-log", "drift.log", "--once"], cwd=session_dir, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "venue unreachable" in done.stderr and "nothing traded" in done.stderr
