"""The session builder's pure parts: feed choice, accounts per exchange, and bad --feed values."""

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.config.profile import load_profile
from nautlive.errors import ConfigError
from nautlive.session.engine import (
    SessionOptions,
    _account_venues,
    _cash_offset,
    exchange_venues,
    is_keyless,
    parse_feed,
)

from .conftest import shared_file

runner = CliRunner()


def test_default_feed_is_the_venue_with_or_without_keys(repo_cwd, monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    keyless = load_profile("binance")
    assert parse_feed(None, keyless).kind == "venue"
    assert is_keyless(keyless, "shadow", parse_feed(None, keyless))
    assert not is_keyless(keyless, "shadow", parse_feed("synthetic", keyless))
    assert not is_keyless(keyless, "live", parse_feed(None, keyless))  # LIVE needs keys: refused elsewhere
    monkeypatch.setenv("BINANCE_API_KEY", "k")
    monkeypatch.setenv("BINANCE_API_SECRET", "s")
    keyed = load_profile("binance")
    assert parse_feed(None, keyed).kind == "venue" and not is_keyless(keyed, "shadow", parse_feed(None, keyed))


def test_replay_feed_takes_every_path(repo_cwd):
    a, b = shared_file("binance", "market", "btcusdt_20240808.gz"), shared_file("binance", "market", "ethusdt_20240808.gz")
    feed = parse_feed(f"replay:{a},{b}", load_profile("binance"), speed=10)
    assert feed.kind == "replay" and feed.paths == [str(a), str(b)] and feed.speed == 10


@pytest.mark.parametrize(("text", "reason"), [
    ("replay:", "no recording given"),
    ("replay:/no/such.gz", "recording not found: /no/such.gz"),
    ("kafka", "expected venue, synthetic or replay"),
    ("synthetic:7", "expected venue, synthetic or replay"),
])
def test_bad_feed(repo_cwd, text, reason):
    with pytest.raises(ConfigError, match=reason):
        parse_feed(text, load_profile("binance"))
    result = runner.invoke(app, ["shadow", "--venue", "binance", "--feed", text, "--once"])
    assert result.exit_code == 2 and reason in result.stderr


def test_ib_shadow_has_one_account_per_exchange_and_counts_the_cash_once(repo_cwd):
    profile = load_profile("ibkr-paper")
    shadow = SessionOptions(mode="shadow", feed=parse_feed("synthetic", profile), targets="t", drift_log="d")
    live = SessionOptions(mode="live", feed=parse_feed("venue", profile), targets="t", drift_log="d")
    assert exchange_venues(profile) == ["ARCA", "NASDAQ"]
    assert _account_venues(profile, shadow) == ["ARCA", "NASDAQ"]
    assert _cash_offset(profile, shadow) == Decimal(100_000)
    assert _account_venues(profile, live) == ["INTERACTIVE_BROKERS"] and _cash_offset(profile, live) == 0


def test_binance_shadow_is_one_account(repo_cwd):
    profile = load_profile("binance")
    shadow = SessionOptions(mode="shadow", feed=parse_feed("synthetic", profile), targets="t", drift_log="d")
    assert _account_venues(profile, shadow) == ["BINANCE"] and _cash_offset(profile, shadow) == 0


@pytest.mark.slow
def test_stdout_holds_only_the_result_and_progress_goes_to_stderr(repo_cwd, tmp_path):
    """Nautilus logs to stdout; a session moves them to stderr so `--json` stays parseable, even at INFO."""
    import json
    import subprocess
    import sys

    (tmp_path / "t.json").write_text(json.dumps({"weights": {"BTCUSDT.BINANCE": 0.4, "ETHUSDT.BINANCE": 0.3}}))
    proc = subprocess.run(
        [sys.executable, "-m", "nautlive", "shadow", "--venue", "binance", "--feed", "synthetic", "--once", "--json",
         "--log-level", "INFO", "--targets", str(tmp_path / "t.json"), "--drift-log", str(tmp_path / "d.log")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert len({f["client_order_id"] for f in result["fills"]}) == len(result["rebalances"][0]["orders"]) == 2
    assert "[INFO] NAUTLIVE-NLV" in proc.stderr
    assert " fill BUY " in proc.stderr and "rebalance " in proc.stderr


@pytest.mark.parametrize("option", [["--duration", "-3"], ["--speed", "-1"]])
def test_negative_duration_or_speed_is_a_usage_error(repo_cwd, option):
    result = runner.invoke(app, ["shadow", "--venue", "binance", "--once", *option])
    assert result.exit_code == 2 and f"Invalid value for '{option[0]}'" in result.output and ">=0" in result.output
