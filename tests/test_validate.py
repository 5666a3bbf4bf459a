"""Profile validation at load: every setting that cannot mean what it says is exit 2, one line naming file and key.

Also: secrets interpolated from the environment never appear in any message, and the turnover budget resolves.
"""

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.config.profile import RiskSettings, load_profile, scrub
from nautlive.config.validate import parse_turnover, turnover_budget
from nautlive.errors import ConfigError
from tests.conftest import REPO

runner = CliRunner()

BINANCE = """venue: BINANCE
adapter: binance
instruments: [BTCUSDT.BINANCE]
quote_currency: USDT
catalog: no-such-catalog.yaml
"""
IBKR = """venue: INTERACTIVE_BROKERS
adapter: ibkr
instruments: [AAPL.NASDAQ, SPY.ARCA]
quote_currency: USD
catalog: no-such-catalog.yaml
"""
CATALOG = """{"venue": "BINANCE", "instruments": [
  {"instrument_id":"BTCUSDT.BINANCE","tick_size":"0.01","step_size":"0.00001","base":"BTC","quote":"USDT"}
]}
"""


def _binance(section: str) -> str:
    return BINANCE + "binance:\n  api_key: k\n  api_secret: s\n" + section


# case -> (profile text, the dotted key the one error line must name)
BAD = {
    "band 1": (BINANCE + "rebalance:\n  band: '1'\n", "rebalance.band"),
    "band negative": (BINANCE + "rebalance:\n  band: '-0.01'\n", "rebalance.band"),
    "cash_buffer above 1": (BINANCE + "rebalance:\n  cash_buffer: '1.5'\n", "rebalance.cash_buffer"),
    "max_order_notional 0": (BINANCE + "rebalance:\n  max_order_notional: '0'\n", "rebalance.max_order_notional"),
    "max_turnover negative": (BINANCE + "rebalance:\n  max_turnover: '-5'\n", "rebalance.max_turnover"),
    "starting balance negative": (BINANCE + "shadow:\n  starting_balances: {USDT: '-1'}\n",
                                  "shadow.starting_balances.USDT"),
    "latency negative": (BINANCE + "shadow:\n  latency_ms: -1\n", "shadow.latency_ms"),
    "latency not a number": (BINANCE + "shadow:\n  latency_ms: .nan\n", "shadow.latency_ms"),
    "latency of minutes": (BINANCE + "shadow:\n  latency_ms: 120000\n", "shadow.latency_ms"),
    "taker_fee 1": (BINANCE + "taker_fee: '1'\n", "taker_fee"),
    "taker_fee nan": (BINANCE + "taker_fee: 'NaN'\n", "taker_fee"),
    "drift_alert_bps negative": (BINANCE + "drift_alert_bps: -1\n", "drift_alert_bps"),
    "connect_timeout 0": (BINANCE + "live:\n  connect_timeout: 0\n", "live.connect_timeout"),
    "connect_timeout inf": (BINANCE + "live:\n  connect_timeout: .inf\n", "live.connect_timeout"),
    "fill_timeout negative": (BINANCE + "live:\n  fill_timeout: -1\n", "live.fill_timeout"),
    "stop_timeout 0": (BINANCE + "live:\n  stop_timeout: 0\n", "live.stop_timeout"),
    "down_report_secs 0": (BINANCE + "live:\n  down_report_secs: 0\n", "live.down_report_secs"),
    "down_timeout 0": (BINANCE + "live:\n  down_timeout: 0\n", "live.down_timeout"),
    "recover_hours 0": (BINANCE + "live:\n  recover_hours: 0\n", "live.recover_hours"),
    "open_orders unknown": (BINANCE + "live:\n  open_orders: ignore\n", "live.open_orders"),
    "max_orders_per_hour 0": (BINANCE + "risk:\n  max_orders_per_hour: 0\n", "risk.max_orders_per_hour"),
    "turnover words": (BINANCE + "risk:\n  max_turnover_per_day: lots\n", "risk.max_turnover_per_day"),
    "turnover 0x": (BINANCE + "risk:\n  max_turnover_per_day: 0x\n", "risk.max_turnover_per_day"),
    "turnover negative": (BINANCE + "risk:\n  max_turnover_per_day: -5\n", "risk.max_turnover_per_day"),
    "turnover empty": (BINANCE + "risk:\n  max_turnover_per_day: ''\n", "risk.max_turnover_per_day"),
    "http port not a number": (_binance("  base_url_http: http://127.0.0.1:abc\n"), "binance.base_url_http"),
    "http port out of range": (_binance("  base_url_http: http://127.0.0.1:99999\n"), "binance.base_url_http"),
    "http no scheme": (_binance("  base_url_http: 127.0.0.1:8765\n"), "binance.base_url_http"),
    "http wrong scheme": (_binance("  base_url_http: ftp://127.0.0.1\n"), "binance.base_url_http"),
    "http no host": (_binance("  base_url_http: 'http://'\n"), "binance.base_url_http"),
    "http empty port": (_binance("  base_url_http: 'http://127.0.0.1:'\n"), "binance.base_url_http"),
    "ws given http": (_binance("  base_url_ws: http://127.0.0.1:8765\n"), "binance.base_url_ws"),
    "ws port not a number": (_binance("  base_url_ws: ws://localhost:x1\n"), "binance.base_url_ws"),
    "ibkr port 0": (IBKR + "ibkr:\n  port: 0\n", "ibkr.port"),
    "ibkr port too big": (IBKR + "ibkr:\n  port: 70000\n", "ibkr.port"),
    "no instruments": (BINANCE.replace("[BTCUSDT.BINANCE]", "[]"), "instruments: the profile lists no instrument"),
    "instrument without venue": (BINANCE.replace("[BTCUSDT.BINANCE]", "[BTCUSDT]"), "instruments[0]"),
    "instrument listed twice": (BINANCE.replace("[BTCUSDT.BINANCE]", "[BTCUSDT.BINANCE, BTCUSDT.BINANCE]"),
                                "instruments[1]"),
    "instrument on another venue": (BINANCE.replace("[BTCUSDT.BINANCE]", "[BTCUSDT.BINANCE, ETHUSDT.KRAKEN]"),
                                    "instruments[1]"),
    "not a venue": (BINANCE.replace("venue: BINANCE", "venue: NOTAVENUE"), "venue"),
    "ibkr on binance venue": (IBKR.replace("venue: INTERACTIVE_BROKERS", "venue: BINANCE"), "venue"),
    "ibkr instrument on binance": (IBKR.replace("[AAPL.NASDAQ, SPY.ARCA]", "[AAPL.NASDAQ, BTCUSDT.BINANCE]"),
                                   "instruments[1]"),
    "source set by hand": (BINANCE + "source: elsewhere.yaml\n", "source"),
    "settle_ms negative": (BINANCE + "targets:\n  settle_ms: -1\n", "targets.settle_ms"),
    "settle_ms of minutes": (BINANCE + "targets:\n  settle_ms: 120000\n", "targets.settle_ms"),
    "settle_ms words": (BINANCE + "targets:\n  settle_ms: soon\n", "targets.settle_ms"),
    "settle_ms yes": (BINANCE + "targets:\n  settle_ms: yes\n", "targets.settle_ms"),
    "targets unknown key": (BINANCE + "targets:\n  file: t.json\n", "targets.file"),
    "settle set by hand": (BINANCE + "target_settle_ms: 5\n", "target_settle_ms"),
}


def test_targets_is_a_path_or_a_section_with_path_and_settle_ms(tmp_path):
    plain = load_profile(profile=_write(tmp_path, BINANCE + "targets: t.json\n", "plain.yaml"))
    assert (plain.targets, plain.target_settle_ms) == ("t.json", 300.0)  # the default settle time
    both = load_profile(profile=_write(tmp_path, BINANCE + "targets:\n  path: u.json\n  settle_ms: 0\n", "b.yaml"))
    assert (both.targets, both.target_settle_ms) == ("u.json", 0.0)
    only = load_profile(profile=_write(tmp_path, BINANCE + "targets:\n  settle_ms: '750'\n", "o.yaml"))
    assert (only.targets, only.target_settle_ms) == ("artifacts/orders/target_weights.json", 750.0)


def _write(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_bad_setting_raises_config_error_naming_file_and_key(tmp_path, case):
    text, key = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_profile(profile=path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}"), message
    assert "\n" not in message


@pytest.mark.parametrize("case", ["band 1", "stop_timeout 0", "http port not a number", "ibkr port 0",
                                  "no instruments", "not a venue", "turnover words"])
def test_bad_setting_through_the_cli_is_one_line_exit_2(tmp_path, case):
    text, key = BAD[case]
    path = _write(tmp_path, text)
    result = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {path}: {key}")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("case", "command"), [("http port not a number", ["profiles", "show", "--profile"]),
                                               ("not a venue", ["shadow", "--once", "--profile"])])
def test_bad_setting_in_a_real_process_exits_2_before_any_node(tmp_path, case, command):
    text, key = BAD[case]
    path = _write(tmp_path, text)
    result = subprocess.run([sys.executable, "-m", "nautlive", *command, str(path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [result.stderr.strip()] and errors[0].startswith(f"error: {path}: {key}")
    assert "Traceback" not in result.stderr


# -- quote currency against the catalog --------------------------------------------------------------------------


def test_quote_currency_must_match_the_catalog(tmp_path):
    catalog = _write(tmp_path, CATALOG, "catalog.yaml")
    path = _write(tmp_path, BINANCE.replace("no-such-catalog.yaml", str(catalog)).replace("USDT\n", "XYZ\n", 1))
    with pytest.raises(ConfigError) as err:
        load_profile(profile=path)
    assert str(err.value).startswith(f"{path}: quote_currency: XYZ") and "USDT" in str(err.value)
    result = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert result.exit_code == 2 and "quote_currency" in result.stderr and "USDT" in result.stderr


def test_quote_currency_checked_against_catalog_relative_to_cwd(tmp_path, monkeypatch):
    _write(tmp_path, CATALOG, "catalog.yaml")
    path = _write(tmp_path, BINANCE.replace("no-such-catalog.yaml", "catalog.yaml").replace("USDT\n", "XYZ\n", 1))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="quote_currency"):
        load_profile(profile=path)
    assert load_profile(profile=_write(tmp_path, BINANCE.replace("no-such-catalog.yaml", "catalog.yaml"), "ok.yaml"))


def test_missing_catalog_skips_the_quote_check(tmp_path):
    profile = load_profile(profile=_write(tmp_path, BINANCE.replace("USDT\n", "XYZ\n", 1)))
    assert profile.quote_currency == "XYZ"


def test_catalog_without_the_instrument_or_its_quote_passes(tmp_path):
    catalog = _write(tmp_path, CATALOG.replace(',"base":"BTC","quote":"USDT"', ""), "catalog.yaml")
    path = _write(tmp_path, BINANCE.replace("no-such-catalog.yaml", str(catalog)).replace("USDT\n", "XYZ\n", 1))
    assert load_profile(profile=path).quote_currency == "XYZ"


# -- what passes -------------------------------------------------------------------------------------------------


GOOD = {
    "edges": BINANCE + "rebalance:\n  band: '0'\n  cash_buffer: '0.999'\ntaker_fee: '0'\ndrift_alert_bps: 0\n",
    "urls": _binance("  base_url_http: https://api.example.com\n  base_url_ws: wss://stream.example.com:9443/ws\n"),
    "loopback": _binance("  base_url_http: http://127.0.0.1:8765\n  base_url_ws: ws://127.0.0.1:8765\n"),
    "ibkr forex": IBKR.replace("[AAPL.NASDAQ, SPY.ARCA]", "[EUR/USD.IDEALPRO, BRK.B.NYSE]") + "ibkr:\n  port: 65535\n",
    "amount turnover": BINANCE + "risk:\n  max_turnover_per_day: 250000\n  max_orders_per_hour: 1\n",
    "every live setting": BINANCE + ("live:\n  lock_dir: /tmp/locks\n  stop_timeout: 0.5\n  down_report_secs: 1\n"
                                     "  down_timeout: 60\n  recover_hours: 0.5\n  open_orders: cancel\n"),
}


@pytest.mark.parametrize("case", list(GOOD))
def test_good_profiles_load(tmp_path, case):
    assert load_profile(profile=_write(tmp_path, GOOD[case], "good.yaml")).instruments


@pytest.mark.parametrize(
    ("value", "nav", "budget"),
    [("2x", "1000", "2000"), ("0.5x", "1000", "500.0"), ("0.5X", "10", "5.0"), ("250000", "1000", "250000"),
     (250000, "1", "250000"), ("1_000", "1", "1000"), (1.5, "1", "1.5")],
)
def test_turnover_budget(value, nav, budget):
    assert turnover_budget(RiskSettings(max_turnover_per_day=value), Decimal(nav)) == Decimal(budget)


@pytest.mark.parametrize("value", ["x", "2y", "-1x", "0", "nan", "infx", ""])
def test_parse_turnover_rejects(value):
    with pytest.raises(ValueError):
        parse_turnover(value)


# -- secrets are never echoed --------------------------------------------------------------------------------------


SECRET = "SSSECRETvalue123"


def test_secret_in_a_setting_is_never_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("SSSECRET_KEY", SECRET)
    path = _write(tmp_path, BINANCE.replace("no-such-catalog.yaml", "${SSSECRET_KEY}"), "p.yaml")
    assert load_profile(profile=path).catalog == SECRET  # the value itself is used, only never shown
    shown = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert shown.exit_code == 0 and SECRET not in shown.output
    assert "the value of ${SSSECRET_KEY}" in shown.stdout
    env = {**os.environ, "SSSECRET_KEY": SECRET}
    _write(tmp_path, '{"BTCUSDT.BINANCE": 0.5}', "targets.json")
    for command in (["reconcile", "--from-file", str(REPO / "no-such-exchange-info.json")],
                    ["shadow", "--once", "--feed", "synthetic", "--targets", "targets.json"],
                    ["--debug", "reconcile"]):
        result = subprocess.run([sys.executable, "-m", "nautlive", *command, "--profile", str(path)], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr[-2000:]
        assert SECRET not in result.stdout + result.stderr, command
        assert "the value of ${SSSECRET_KEY}: catalog not found" in result.stderr, result.stderr[-2000:]


def test_secret_in_a_validation_message_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_API_TOKEN", "http://tokenvalue-abc:notaport")
    path = _write(tmp_path, _binance("  base_url_http: ${MY_API_TOKEN}\n"))
    with pytest.raises(ConfigError) as err:
        load_profile(profile=path)
    assert "binance.base_url_http" in str(err.value) and "the value of ${MY_API_TOKEN}" in str(err.value)
    assert "tokenvalue" not in str(err.value)
    result = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert result.exit_code == 2 and "tokenvalue" not in result.output


def test_plain_variables_are_shown_and_secret_fields_are_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("NAUTLIVE_TEST_URL", "http://plainhost:nope")
    monkeypatch.setenv("NAUTLIVE_TEST_PLAIN", "plain-but-in-api-key")
    monkeypatch.setenv("NAUTLIVE_TEST_ACCT", "U7654321")
    with pytest.raises(ConfigError, match="plainhost"):  # a plain variable's value helps the user: it stays
        load_profile(profile=_write(tmp_path, _binance("  base_url_http: ${NAUTLIVE_TEST_URL}\n")))
    load_profile(profile=_write(tmp_path, BINANCE + "binance:\n  api_key: ${NAUTLIVE_TEST_PLAIN}\n", "a.yaml"))
    load_profile(profile=_write(tmp_path, IBKR + "ibkr:\n  account_id: ${NAUTLIVE_TEST_ACCT}\n", "b.yaml"))
    assert scrub("key plain-but-in-api-key, account U7654321") == (
        "key the value of ${NAUTLIVE_TEST_PLAIN}, account the value of ${NAUTLIVE_TEST_ACCT}")


def test_shipped_profiles_still_load(repo_cwd):
    for name in ("binance", "binance-testnet", "binance-sim", "ibkr-paper", "ibkr-live"):
        assert load_profile(name).name == name
