"""Profiles: loading, interpolation, redaction and every bad input (exit 2, one line naming file and key)."""

import subprocess
import sys
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.cli.app import app
from nautlive.config.profile import load_profile, redacted, secrets_of
from nautlive.errors import ConfigError

runner = CliRunner()
SHIPPED = ["binance", "binance-testnet", "binance-sim", "ibkr-paper", "ibkr-live"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads(repo_cwd, name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.instruments
    assert profile.adapter in ("binance", "ibkr")


def test_sim_profile_points_at_loopback(repo_cwd):
    profile = load_profile("binance-sim")
    assert profile.binance.base_url_http == "http://127.0.0.1:8765"
    assert profile.rebalance.band == Decimal("0.01")
    assert profile.reconcile.on_mismatch is None  # opt-in since severity by direction (issue 27)


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """venue: BINANCE
adapter: binance
instruments: [BTCUSDT.BINANCE]
quote_currency: USDT
catalog: artifacts/catalog/binance.yaml
"""


def test_interpolation_from_environment_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "k-123")
    monkeypatch.delenv("MY_SECRET", raising=False)
    path = write(tmp_path, BASE + "binance:\n  api_key: ${MY_KEY}\n  api_secret: ${MY_SECRET:-fallback}\n")
    profile = load_profile(profile=path)
    assert profile.binance.api_key == "k-123"
    assert profile.binance.api_secret == "fallback"
    assert profile.has_keys()


def test_empty_default_means_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    profile = load_profile(profile=write(tmp_path, BASE + "binance:\n  api_key: ${MY_KEY:-}\n"))
    assert profile.binance.api_key is None
    assert not profile.has_keys()


def test_redaction_hides_every_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "super-secret-key")
    monkeypatch.setenv("MY_SECRET", "super-secret-secret")
    path = write(tmp_path, BASE + "binance:\n  api_key: ${MY_KEY}\n  api_secret: ${MY_SECRET}\n")
    profile = load_profile(profile=path)
    assert secrets_of(profile) and "super-secret-key" not in str(redacted(profile))
    result = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert result.exit_code == 0
    assert "****" in result.stdout
    assert "super-secret" not in result.stdout


def test_default_starting_balance_is_100k_quote(tmp_path):
    profile = load_profile(profile=write(tmp_path, BASE))
    assert profile.starting_balances() == {"USDT": Decimal(100_000)}


BAD = {
    "missing": (None, "profile not found"),
    "syntax": (BASE + "rebalance: [band: 1\n", "YAML syntax error at line"),
    "unknown key": (BASE + "rebalanse:\n  band: 0.01\n", "rebalanse: unknown key"),
    "wrong type": (BASE + "ibkr:\n  port: not-a-port\n", "ibkr.port: expected int"),
    "unset env": (BASE + "binance:\n  api_key: ${NAUTLIVE_TEST_UNSET_VAR}\n", "environment variable NAUTLIVE_TEST_UNSET_VAR"),
    "missing required": ("venue: BINANCE\nadapter: binance\n", "required key is missing"),
    "bad adapter": (BASE.replace("adapter: binance", "adapter: kraken"), "adapter: expected one of"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_profile_is_one_line_exit_2(tmp_path, monkeypatch, case):
    monkeypatch.delenv("NAUTLIVE_TEST_UNSET_VAR", raising=False)
    text, expected = BAD[case]
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(profile=path)
    assert str(path) in str(err.value) and expected in str(err.value)
    result = runner.invoke(app, ["profiles", "show", "--profile", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_debug_shows_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "profiles", "show", "--profile", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_help_and_version_do_not_import_nautilus():
    code = (
        "import sys; from nautlive.cli.app import main; sys.argv=['nautlive','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert not any(m.startswith('nautilus_trader') for m in sys.modules), 'nautilus imported'\n"
        "print('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("clean")
    version = subprocess.run([sys.executable, "-m", "nautlive", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("nautlive ")


def test_profiles_list(repo_cwd):
    result = runner.invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0
    assert {"binance", "binance-sim", "ibkr-paper"} <= {row["name"] for row in __import__("json").loads(result.stdout)}


def test_new_live_and_risk_settings_have_defaults(tmp_path):
    profile = load_profile(profile=write(tmp_path, BASE))
    live = profile.live
    assert live.lock_dir is None  # the per-user state folder, see nautlive.session.safety.AccountLock
    assert (live.stop_timeout, live.down_report_secs, live.down_timeout, live.recover_hours) == (10.0, 10.0, 300.0, 24.0)
    assert live.open_orders == "fail"
    assert (profile.risk.max_turnover_per_day, profile.risk.max_orders_per_hour) == ("2x", 120)
    assert profile.source == str((tmp_path / "p.yaml").resolve())


def test_new_settings_are_read_from_the_profile(tmp_path):
    text = BASE + ("live:\n  lock_dir: my/locks\n  stop_timeout: 3\n  open_orders: keep\n"
                   "risk:\n  max_turnover_per_day: 0.5x\n  max_orders_per_hour: 30\n")
    profile = load_profile(profile=write(tmp_path, text))
    assert (profile.live.lock_dir, profile.live.stop_timeout, profile.live.open_orders) == ("my/locks", 3.0, "keep")
    assert (profile.risk.max_turnover_per_day, profile.risk.max_orders_per_hour) == ("0.5x", 30)
