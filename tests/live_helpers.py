"""Helpers of the LIVE end-to-end tests: a simulator on a thread, a session directory, the command, the venue's state.

Each session runs in its own `python -m nautlive live` process (Nautilus initialises logging once per process), in a
tmp directory holding its profile (from profiles/binance-sim.yaml), targets, drift log, lock dir and kill switch. The
simulator runs on a thread of the test process, on a free port handed over through NAUTLIVE_SIM_HTTP / NAUTLIVE_SIM_WS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from nautlive.sim.binance import BinanceSimulator, build_simulator
from nautlive.sim.server import RunningSimulator, start_in_thread
from tests.conftest import REPO

CATALOG = REPO / "artifacts" / "catalog" / "binance.yaml"
SIM_PROFILE = REPO / "profiles" / "binance-sim.yaml"
TARGETS = {"BTCUSDT.BINANCE": 0.3, "ETHUSDT.BINANCE": 0.2}
BAND = Decimal("0.01")
CONNECT_TIMEOUT = 5
DRIFT_FIELDS = {"ts", "session", "mode", "venue", "instrument", "side", "qty", "fill_px", "mid_at_submit",
                "last_tick_px", "drift_bps", "notional", "client_order_id", "target_hash", "alert"}
D = Decimal


# -- the venue, the session directory and the command ------------------------------------------------------------


def start_venue(catalog: Path = CATALOG, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> RunningSimulator:
    sim = build_simulator(list(symbols), {"USDT": D(100_000)}, catalog_path=catalog)
    return start_in_thread(sim, quote_interval=0.05)


@pytest.fixture
def venue():
    with start_venue() as running:
        yield running


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    """The shipped sim profile with an absolute catalog and a short connect timeout, and the first targets."""
    profile = yaml.safe_load(SIM_PROFILE.read_text())
    profile["catalog"] = str(CATALOG)
    profile["live"] = {"connect_timeout": CONNECT_TIMEOUT, "fill_timeout": 10, "lock_dir": str(tmp_path / "locks"),
                       "stop_timeout": 3}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    write_targets(tmp_path, TARGETS)
    return tmp_path


def ed25519_key_pair() -> tuple[str, str]:
    """(private key PKCS#8 PEM, public key PEM) of a new Ed25519 key."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    public = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def register_new_key(running: RunningSimulator, api_key: str) -> str:
    """A new Ed25519 key the venue knows for `api_key`, as Binance does once its public half is registered; returns
    the private key PEM."""
    private, public = ed25519_key_pair()
    running.sim.keys.add_ed25519(api_key, public)
    return private


def use_key_file(directory: Path, pem: str, mode: int = 0o600) -> Path:
    """The session directory's profile reads its private key from a file (with this mode) instead of the environment."""
    key_file = directory / "binance-ed25519.pem"
    key_file.write_text(pem)
    key_file.chmod(mode)
    profile = yaml.safe_load((directory / "profile.yaml").read_text())
    profile["binance"].pop("api_secret")
    profile["binance"]["api_secret_file"] = str(key_file)
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))
    return key_file


def write_targets(directory: Path, weights: dict[str, float]) -> None:
    temporary = directory / "targets.json.tmp"
    temporary.write_text(json.dumps({"as_of": "2026-11-24T12:00:00Z", "weights": weights}))
    temporary.replace(directory / "targets.json")


def live_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--targets", "targets.json",
            "--drift-log", "drift.log", *args]


def live_env(running: RunningSimulator | None, port: int | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NAUTLIVE_ARM", "NAUTLIVE_SIM_KEY", "NAUTLIVE_SIM_SECRET")}
    http, ws = (running.http_url, running.ws_url) if running else (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    return {**env, "NAUTLIVE_SIM_HTTP": http, "NAUTLIVE_SIM_WS": ws, **extra}


def run_live(directory: Path, running: RunningSimulator | None, *args: str, port: int | None = None,
             timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(live_command(*args), cwd=directory, env=live_env(running, port, **env), capture_output=True,
                          text=True, timeout=timeout)


def start_live(directory: Path, running: RunningSimulator, *args: str, **env: str) -> subprocess.Popen:
    """A session in the background; its output goes to files (INFO logs would fill a pipe)."""
    return subprocess.Popen(live_command(*args), cwd=directory, env=live_env(running, **env),
                            stdout=(directory / "stdout.txt").open("w"), stderr=(directory / "stderr.txt").open("w"),
                            text=True)


def finish(proc: subprocess.Popen, directory: Path, timeout: float = 30) -> tuple[int, str, str]:
    try:
        code = proc.wait(timeout)
    finally:
        proc.kill()
    return code, (directory / "stdout.txt").read_text(), (directory / "stderr.txt").read_text()


def error_line(stderr: str) -> str:
    """The CLI's one `error: ...` line (Nautilus's own log lines may surround it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


# -- watching the venue --------------------------------------------------------------------------------------------


def state(running: RunningSimulator) -> dict:
    """GET /__sim/state: balances, orders, fills, books, the request log and WebSocket connection counts."""
    with urllib.request.urlopen(running.http_url + "/__sim/state", timeout=5) as response:
        return json.loads(response.read())


def order_posts(running: RunningSimulator) -> list[dict]:
    return [r for r in state(running)["requests"] if r["method"] == "POST" and r["path"] == "/api/v3/order"]


def wait_until(condition: Callable[[], bool], seconds: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"session exited {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s")
        time.sleep(0.05)


def weights_at_venue(running: RunningSimulator, part: str = "total") -> dict[str, Decimal]:
    """Each instrument's share of NAV from the simulator's own balances, valued at its mid; `part="free"` weighs only
    what open orders do not lock (NAV still counts everything)."""
    snapshot = state(running)
    total = {asset: D(b["free"]) + D(b["locked"]) for asset, b in snapshot["balances"].items()}
    shown = total if part == "total" else {asset: D(b["free"]) for asset, b in snapshot["balances"].items()}
    mids = {s: (D(b["bid"]) + D(b["ask"])) / 2 for s, b in snapshot["books"].items()}
    nav = total.get("USDT", D(0)) + sum(total.get(s.removesuffix("USDT"), D(0)) * mid for s, mid in mids.items())
    return {f"{s}.BINANCE": shown.get(s.removesuffix("USDT"), D(0)) * mid / nav for s, mid in mids.items()}


def stall_from_first_order(sim: BinanceSimulator, seconds: float | None = None) -> None:
    """From the first POST /api/v3/order on, the venue holds every REST request (that order's included), for
    `seconds` or until cleared."""
    log_request = sim.log_request

    def log_then_stall(method: str, path: str, params: dict) -> None:
        log_request(method, path, params)
        if (method, path) == ("POST", "/api/v3/order"):
            sim.stall(seconds)

    sim.log_request = log_then_stall


def stall_mid_rebalance(directory: Path, running: RunningSimulator) -> subprocess.Popen:
    """A session whose first orders are in flight, unanswered."""
    running.call(stall_from_first_order, running.sim)
    proc = start_live(directory, running, "--arm", "--duration", "30")
    wait_until(lambda: order_posts(running), 30, "order in flight", proc)
    time.sleep(0.3)  # the second order goes out too
    return proc


