"""Reconcile the catalog with Binance exchangeInfo: the real 2022 -> 2023 changes, severities, every bad input."""

import json
import socket
from collections import Counter
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.catalog.reconcile import compare, enforce
from nautlive.catalog.specs import ExecutionMetadataCatalog, InstrumentSpec, load_catalog, save_catalog
from nautlive.cli.app import app
from nautlive.errors import ConfigError, ReconcileBlocked, RuntimeFailure
from nautlive.venues.binance.specs import fetch_exchange_info, read_exchange_info_file, specs_from_exchange_info

from .conftest import shared_file

runner = CliRunner()
INFO_2022 = ("binance", "exchange_info", "binance_spot_exchange_info_2022-11-28.json")
INFO_2023 = ("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json")


def raw_fields(symbol: dict) -> dict:
    """The catalog fields of one raw exchangeInfo symbol, computed here without the code under test."""
    f = {x["filterType"]: x for x in symbol["filters"]}
    out = {"status": symbol["status"], "base": symbol["baseAsset"], "quote": symbol["quoteAsset"],
           "tick_size": Decimal(f["PRICE_FILTER"]["tickSize"]), "step_size": Decimal(f["LOT_SIZE"]["stepSize"]),
           "min_qty": Decimal(f["LOT_SIZE"]["minQty"]), "max_qty": Decimal(f["LOT_SIZE"]["maxQty"]),
           "price_precision": len(f["PRICE_FILTER"]["tickSize"].split(".")[1]),
           "size_precision": len(f["LOT_SIZE"]["stepSize"].split(".")[1])}
    if "MARKET_LOT_SIZE" in f:
        out["market_max_qty"] = Decimal(f["MARKET_LOT_SIZE"]["maxQty"])
    notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL")
    if notional and notional.get("applyMinToMarket", notional.get("applyToMarket")) is not False:
        out["min_notional"] = Decimal(notional["minNotional"])
    if notional and "maxNotional" in notional and notional.get("applyMaxToMarket") is not False:
        out["max_notional"] = Decimal(notional["maxNotional"])
    return out


def test_2022_catalog_against_2023_venue_reports_the_real_changes(tmp_path):
    old = json.loads(shared_file(*INFO_2022).read_text())
    new = json.loads(shared_file(*INFO_2023).read_text())
    new_by_symbol = {s["symbol"]: raw_fields(s) for s in new["symbols"]}
    expected = Counter()
    for symbol in old["symbols"]:
        before, after = raw_fields(symbol), new_by_symbol.get(symbol["symbol"])
        if after is None:
            expected["instrument"] += 1
            continue
        for field in before.keys() | after.keys():
            if before.get(field) != after.get(field):
                expected[field] += 1

    result = runner.invoke(app, ["catalog", "snapshot", "--venue", "binance", "--from-file",
                                 str(shared_file(*INFO_2022)), "--all", "--out", str(tmp_path / "c22.yaml")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2023)),
                                 "--catalog", str(tmp_path / "c22.yaml"), "--json"])
    report = json.loads(result.stdout)
    assert report["checked"] == len(old["symbols"])
    assert Counter(m["field"] for m in report["mismatches"]) == expected
    assert sum(expected.values()) > 1000  # the 2023 capture really changed: NOTIONAL, BREAK, market lot sizes
    assert result.exit_code == 3 and report["blocking"] > 0
    assert report["blocking"] + report["warnings"] + report["info"] == len(report["mismatches"])
    went_to_break = sum(
        1 for m in report["mismatches"] if m["field"] == "status" and m["venue"] != "TRADING" and m["severity"] == "BLOCKING"
    )
    assert went_to_break == sum(
        1 for s in old["symbols"]
        if s["status"] == "TRADING" and new_by_symbol.get(s["symbol"], {}).get("status", "TRADING") != "TRADING"
    )


def test_shipped_catalog_against_2023_has_nothing_blocking(repo_cwd):
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2023))])
    assert result.exit_code == 0, result.output
    assert "2 instruments checked: 0 blocking" in result.stdout


def spec(**kw):
    base = dict(instrument_id="BTCUSDT.BINANCE", status="TRADING", tick_size=Decimal("0.01"),
                step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"), max_qty=Decimal("9000"),
                min_notional=Decimal("5"), base="BTC", quote="USDT")
    base.update(kw)
    return InstrumentSpec(**base)


@pytest.mark.parametrize(
    ("venue_change", "field", "severity"),
    [
        (dict(min_notional=Decimal("10")), "min_notional", "BLOCKING"),
        (dict(min_notional=Decimal("1")), "min_notional", "INFO"),  # was WARNING before severity by direction
        (dict(min_qty=Decimal("0.001")), "min_qty", "BLOCKING"),
        (dict(step_size=Decimal("0.001")), "step_size", "BLOCKING"),      # no longer divides the catalog's step
        (dict(step_size=Decimal("0.000001")), "step_size", "INFO"),       # finer: every catalog qty still valid
        (dict(max_qty=Decimal("100")), "max_qty", "BLOCKING"),
        (dict(max_qty=Decimal("90000")), "max_qty", "INFO"),
        (dict(status="BREAK"), "status", "BLOCKING"),
        (dict(tick_size=Decimal("0.1")), "tick_size", "BLOCKING"),  # coarser: the catalog's 0.01 prices fail it
        (dict(quote="FDUSD"), "quote", "BLOCKING"),
    ],
)
def test_severity_rules(venue_change, field, severity):
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec()])
    result = compare(catalog, {"BTCUSDT": spec(**venue_change)})
    assert [(m.field, m.severity) for m in result.mismatches] == [(field, severity)]


def test_equal_decimals_in_other_spelling_are_equal():
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec(tick_size=Decimal("0.01000000"))])
    assert compare(catalog, {"BTCUSDT": spec(tick_size=Decimal("0.01"))}).mismatches == []


def test_profile_can_lower_or_raise_severity():
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec()])
    venue = {"BTCUSDT": spec(min_notional=Decimal("10"), tick_size=Decimal("0.1"))}
    result = compare(catalog, venue, overrides={"min_notional": "WARNING", "tick_size": "BLOCKING"})
    assert {(m.field, m.severity) for m in result.mismatches} == {("min_notional", "WARNING"), ("tick_size", "BLOCKING")}


def test_enforce_refuses_only_when_policy_is_fail():
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec()])
    result = compare(catalog, {"BTCUSDT": spec(status="BREAK")})
    enforce(result, "warn")
    with pytest.raises(ReconcileBlocked, match="status: catalog TRADING vs venue BREAK"):
        enforce(result, "fail")


def test_write_patch_takes_the_venue_values(repo_cwd, tmp_path):
    patch = tmp_path / "patched.yaml"
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2022)),
                                 "--write-patch", str(patch), "--json"])
    assert result.exit_code == 3  # 2022 min_notional 10 > catalog 5
    patched = load_catalog(patch)
    assert patched.get("BTCUSDT.BINANCE").min_notional == Decimal("10")
    again = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2022)),
                                "--catalog", str(patch)])
    assert again.exit_code == 0, again.output


# ---- bad input -------------------------------------------------------------------------------------------------


def test_not_json(tmp_path):
    (tmp_path / "info.json").write_text('{"timezone": "UTC", "symbols": [')
    with pytest.raises(ConfigError, match="not JSON"):
        read_exchange_info_file(tmp_path / "info.json")


def test_binance_error_body(repo_cwd, tmp_path):
    (tmp_path / "info.json").write_text('{"code":0,"msg":"Service unavailable from a restricted location"}')
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(tmp_path / "info.json")])
    assert result.exit_code == 1
    assert "Service unavailable from a restricted location" in result.stderr and "Traceback" not in result.output


def test_unknown_filter_type_is_ignored_with_a_debug_line(repo_cwd, tmp_path):
    """Binance adds filter types from time to time: one this Nautilus version does not know is dropped, named in a
    debug line (--debug), and the symbol reconciles as before (it used to be an unreadable, BLOCKING symbol)."""
    raw = json.loads(shared_file(*INFO_2023).read_text())
    for symbol in raw["symbols"]:
        if symbol["symbol"] == "ETHUSDT":
            symbol["filters"].append({"filterType": "SHINY_NEW_FILTER", "foo": "1"})
    (tmp_path / "info.json").write_text(json.dumps(raw))
    specs = read_exchange_info_file(tmp_path / "info.json")
    assert "BTCUSDT" in specs.specs and "ETHUSDT" in specs.specs and not specs.unreadable
    assert specs.specs["ETHUSDT"] == read_exchange_info_file(shared_file(*INFO_2023)).specs["ETHUSDT"]
    result = runner.invoke(app, ["--debug", "reconcile", "--venue", "binance", "--from-file",
                                 str(tmp_path / "info.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mismatches"] == []
    debug = [line for line in result.stderr.splitlines() if "SHINY_NEW_FILTER" in line]
    assert debug == [f"debug: {tmp_path / 'info.json'}: ignored filter type SHINY_NEW_FILTER on 1 symbol(s): not "
                     "known to this Nautilus version"]
    quiet = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(tmp_path / "info.json")])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_a_symbol_still_unreadable_without_unknown_filters_is_blocking_for_that_symbol_only(repo_cwd, tmp_path):
    raw = json.loads(shared_file(*INFO_2023).read_text())
    for symbol in raw["symbols"]:
        if symbol["symbol"] == "ETHUSDT":
            symbol["filters"][0]["tickSize"] = 0.01  # a number where Binance sends a decimal string
    (tmp_path / "info.json").write_text(json.dumps(raw))
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(tmp_path / "info.json"),
                                 "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 3
    assert [(m["instrument"], m["severity"]) for m in report["mismatches"]] == [("ETHUSDT.BINANCE", "BLOCKING")]
    assert report["mismatches"][0]["venue"] == "Expected `str | null`, got `float` at filters[0].tickSize"


def test_empty_catalog(repo_cwd, tmp_path):
    save_catalog(ExecutionMetadataCatalog(venue="BINANCE", instruments=[]), tmp_path / "empty.yaml")
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2023)),
                                 "--catalog", str(tmp_path / "empty.yaml")])
    assert result.exit_code == 2 and "catalog has no instruments" in result.stderr


def test_instrument_the_venue_never_listed(repo_cwd, tmp_path):
    catalog = ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec(instrument_id="NOPEUSDT.BINANCE")])
    save_catalog(catalog, tmp_path / "c.yaml")
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(shared_file(*INFO_2023)),
                                 "--catalog", str(tmp_path / "c.yaml"), "--json"])
    assert result.exit_code == 3
    row = json.loads(result.stdout)["mismatches"][0]
    assert row == {"instrument": "NOPEUSDT.BINANCE", "field": "instrument", "catalog": "listed",
                   "venue": "not listed", "severity": "BLOCKING"}


def test_unreachable_venue_is_exit_1(tmp_path, repo_cwd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeFailure, match="venue unreachable"):
        fetch_exchange_info(f"http://127.0.0.1:{port}", timeout=5)


def test_snapshot_unknown_symbol(repo_cwd, tmp_path):
    result = runner.invoke(app, ["catalog", "snapshot", "--venue", "binance", "--from-file",
                                 str(shared_file(*INFO_2023)), "--symbols", "BTCUSDT,NOPE", "--out",
                                 str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "NOPE" in result.stderr
    assert not (tmp_path / "c.yaml").exists()


def test_specs_decode_with_the_nautilus_schema_in_both_eras():
    for capture in (INFO_2022, INFO_2023):
        specs = specs_from_exchange_info(shared_file(*capture).read_bytes())
        assert not specs.unreadable and specs.specs["BTCUSDT"].min_notional is not None


def test_decoding_leaves_the_adapter_to_load_in_full_later():
    """The schema loads without the adapter package's __init__; the adapter imported afterwards is complete."""
    import subprocess
    import sys

    script = f"""
import sys
from nautlive.venues.binance.specs import read_exchange_info_file
assert read_exchange_info_file({str(shared_file(*INFO_2023))!r}).specs["BTCUSDT"].tick_size is not None
assert not [m for m in sys.modules if m.startswith("nautilus_trader.adapters.binance")]
import nautilus_trader.adapters.binance.spot.schemas.market
import nautilus_trader.adapters.binance.spot.schemas.market as market
from nautilus_trader.adapters.binance import BinanceLiveDataClientFactory, BinanceLiveExecClientFactory
from nautilus_trader.adapters.binance.spot.schemas.market import BinanceSpotExchangeInfo
assert nautilus_trader.adapters.binance.spot.schemas.market is market
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_the_installed_command_keeps_output_and_exit_code(repo_cwd):
    """Through the real entry point, which skips interpreter teardown for node-less commands."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nautlive", "reconcile", "--venue", "binance", "--from-file",
                           str(shared_file(*INFO_2022)), "--json"], capture_output=True, text=True)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["blocking"] == 2


@pytest.mark.slow
def test_reconcile_asks_the_venue_at_the_profiles_base_url(repo_cwd, monkeypatch):
    """No --from-file: exchangeInfo through Nautilus's Binance HTTP client, here from the loopback simulator serving
    the real 2022 capture (whose minimum notional is above the shipped catalog's)."""
    from nautlive.sim.binance import build_simulator
    from nautlive.sim.server import start_in_thread

    sim = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": Decimal(1000)}, exchange_info_path=shared_file(*INFO_2022))
    with start_in_thread(sim) as running:
        monkeypatch.setenv("NAUTLIVE_SIM_HTTP", running.http_url)
        result = runner.invoke(app, ["reconcile", "--venue", "binance-sim", "--json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert {(m["instrument"], m["field"], m["venue"]) for m in report["mismatches"] if m["severity"] == "BLOCKING"} == {
        ("BTCUSDT.BINANCE", "min_notional", "10"), ("ETHUSDT.BINANCE", "min_notional", "10")}
