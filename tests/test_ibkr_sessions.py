"""IB sessions: offline shadow on AAPL and SPY in whole shares; live against a missing gateway fails fast."""

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_ibkr_shadow_reaches_targets_in_whole_shares(tmp_path):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"weights": {"AAPL.NASDAQ": 0.5, "SPY.ARCA": 0.3}}))
    proc = subprocess.run(
        [sys.executable, "-m", "nautlive", "shadow", "--venue", "ibkr-paper", "--feed", "synthetic", "--once",
         "--targets", str(targets), "--drift-log", str(tmp_path / "drift.log"), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {f["instrument"] for f in result["fills"]} == {"AAPL.NASDAQ", "SPY.ARCA"}
    for fill in result["fills"]:
        assert Decimal(fill["qty"]) == Decimal(fill["qty"]).to_integral_value() and Decimal(fill["qty"]) >= 1
    for iid, row in result["final_weights"].items():
        weight, target = Decimal(row["weight"]), Decimal(row["target"])
        price = max(Decimal(f["fill_px"]) for f in result["fills"] if f["instrument"] == iid)
        one_share = price / Decimal(100_000)  # a whole share of NAV: the closest whole shares can get
        assert abs(weight - target) < Decimal("0.01") + one_share, iid
    # NAV is the synthetic 100,000 USD, not one account per exchange: the surplus funding is not counted
    spent = sum(Decimal(f["notional"]) for f in result["fills"])
    assert Decimal("79000") < spent < Decimal("80100")


def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("account", ["DU123456", None])
def test_live_without_a_gateway_exits_1_at_once(tmp_path, monkeypatch, account):
    profile = (REPO / "profiles" / "ibkr-paper.yaml").read_text().replace("port: 4002", f"port: {unused_port()}")
    profile = profile.replace("artifacts/", f"{REPO}/artifacts/")
    (tmp_path / "ib.yaml").write_text(profile)
    env = {k: v for k, v in __import__("os").environ.items() if k != "TWS_ACCOUNT"}
    if account:
        env["TWS_ACCOUNT"] = account
    proc = subprocess.run(
        [sys.executable, "-m", "nautlive", "live", "--profile", str(tmp_path / "ib.yaml"), "--arm", "--once"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env,
    )
    if account:
        assert proc.returncode == 1 and "IB Gateway not reachable at 127.0.0.1" in proc.stderr
    else:
        assert proc.returncode == 2 and "ibkr.account_id: not set (export TWS_ACCOUNT)" in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("profile ib (") and len(lines) == 2 and "Traceback" not in proc.stderr
