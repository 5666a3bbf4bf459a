"""Today's exchangeInfo (2026 shape, built from the real 2023 capture by tests/exchange_info_2026.py): the reconcile
parser, `catalog snapshot` and the simulator read it; a change of one filter is reported by its direction."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.catalog.reconcile import blocked_instruments, compare
from nautlive.catalog.specs import load_catalog
from nautlive.cli.app import app
from nautlive.sim.binance import build_simulator
from nautlive.venues.binance.specs import read_exchange_info_file, specs_from_exchange_info
from tests import exchange_info_2026 as info26
from tests.conftest import REPO, shared_file

runner = CliRunner()
D = Decimal
INFO_2023 = ("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json")


@pytest.fixture(scope="module")
def specs_2023():
    return read_exchange_info_file(shared_file(*INFO_2023))


def test_the_helper_reshapes_like_the_venue():
    shared_file(*INFO_2023)
    btc = info26.symbol(info26.load_2026(), "BTCUSDT")
    assert btc["permissions"] == [] and btc["permissionSets"][0][:2] == ["SPOT", "MARGIN"]
    assert {k: btc[k] for k in info26.NEW_FLAGS} == info26.NEW_FLAGS
    assert [f["filterType"] for f in btc["filters"]][-2:] == ["MAX_NUM_ORDER_AMENDS", "MAX_NUM_ORDER_LISTS"]


def test_the_2026_shape_reads_like_the_2023_capture(tmp_path, specs_2023):
    specs = read_exchange_info_file(info26.capture(tmp_path / "info-2026.json"))
    assert not specs.unreadable and specs.specs == specs_2023.specs


@pytest.mark.parametrize("reshape", ["unknown exchange filter", "unknown symbol filter", "permissions removed"])
def test_what_binance_may_send_next_still_reads(tmp_path, specs_2023, reshape):
    info = info26.load_2026()
    if reshape == "unknown exchange filter":
        info["exchangeFilters"] = [{"filterType": "EXCHANGE_MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20}]
    for symbol in info["symbols"]:
        if reshape == "unknown symbol filter":
            symbol["filters"].append({"filterType": "MAX_NUM_ORDER_PEGS", "maxNumOrderPegs": 3})
        if reshape == "permissions removed":
            del symbol["permissions"]
    specs = specs_from_exchange_info(json.dumps(info).encode())
    assert not specs.unreadable and specs.specs == specs_2023.specs


def test_catalog_snapshot_of_the_2026_shape_is_the_shipped_catalog(repo_cwd, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json")
    result = runner.invoke(app, ["catalog", "snapshot", "--venue", "binance", "--from-file", str(capture), "--out",
                                 str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    assert load_catalog(tmp_path / "c.yaml") == load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml")


def test_only_a_higher_market_max_qty_exits_0_with_info_rows(repo_cwd, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json", info26.MARKET_MAX_UP)
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == ["BTCUSDT.BINANCE\tmarket_max_qty\t168.82682004\t180.64469744\tINFO",
                                               "2 instruments checked: 0 blocking, 0 warnings, 1 info"]


def test_a_doubled_min_notional_exits_3(repo_cwd, tmp_path):
    capture = info26.capture(tmp_path / "info-2026.json", info26.MIN_NOTIONAL_DOUBLED)
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture), "--json"])
    assert result.exit_code == 3
    assert json.loads(result.stdout)["mismatches"] == [{"instrument": "BTCUSDT.BINANCE", "field": "min_notional",
                                                        "catalog": "5", "venue": "10", "severity": "BLOCKING"}]


@pytest.mark.parametrize("status", ["HALT", "BREAK"])
def test_a_halted_symbol_blocks_that_symbol_only(repo_cwd, tmp_path, status):
    info = info26.load_2026()
    info26.symbol(info, "BTCUSDT")["status"] = status
    specs = read_exchange_info_file(info26.write(info, tmp_path / "info-2026.json"))
    result = compare(load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml"), specs.specs)
    assert [(m.instrument, m.field, m.severity) for m in result.mismatches] == [
        ("BTCUSDT.BINANCE", "status", "BLOCKING")]
    assert list(blocked_instruments(result)) == ["BTCUSDT.BINANCE"]


def test_the_simulator_serves_the_2026_capture(tmp_path):
    from nautlive.sim.server import start_in_thread

    info = info26.load_2026()
    info26.set_filter(info, "BTCUSDT", "MAX_NUM_ORDER_PEGS", maxNumOrderPegs=3)  # one it does not know either
    capture = info26.write(info, tmp_path / "info-2026.json")
    sim = build_simulator(["BTCUSDT", "ETHUSDT"], {"USDT": D(100_000)}, exchange_info_path=capture)
    with start_in_thread(sim) as running:
        url = running.http_url + '/api/v3/exchangeInfo?symbols=["BTCUSDT","ETHUSDT"]'
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    served = json.loads(body)
    btc = next(s for s in served["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["permissions"] == [] and btc["amendAllowed"] is True and "permissionSets" in btc
    assert specs_from_exchange_info(body).specs["BTCUSDT"] == read_exchange_info_file(capture).specs["BTCUSDT"]
    assert sim.rules["BTCUSDT"].market_lot.maximum == D("168.82682004")  # the filters it enforces, read as before


def test_the_adapters_decoder_drops_what_it_does_not_know(caplog):
    """What Nautilus's instrument provider decodes a session's exchangeInfo with (tolerate_unknown_types_in_the_adapter):
    the adapter's own struct, every symbol, nothing it cannot read."""
    import logging

    from nautlive.venues.binance.schema import decode_exchange_info, schema

    info = info26.load_2026()
    info["exchangeFilters"] = [{"filterType": "EXCHANGE_MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20}]
    info["rateLimits"].append({"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 1, "limit": 300})
    for symbol in info["symbols"][:3]:
        symbol["filters"].append({"filterType": "MAX_NUM_ORDER_PEGS", "maxNumOrderPegs": 3})
    with caplog.at_level(logging.DEBUG, logger="nautlive"):
        decoded = decode_exchange_info(json.dumps(info).encode(), "test")
    assert isinstance(decoded, schema().exchange_info) and len(decoded.symbols) == len(info["symbols"])
    assert decoded.exchangeFilters == [] and len(decoded.rateLimits) == len(info["rateLimits"]) - 1
    assert [r.getMessage() for r in caplog.records] == [
        "test: ignored exchange filter type EXCHANGE_MAX_NUM_ORDER_LISTS (1x): not known to this Nautilus version",
        "test: ignored filter type MAX_NUM_ORDER_PEGS on 3 symbol(s): not known to this Nautilus version",
        "test: ignored rate limit type CONNECTIONS (1x): not known to this Nautilus version"]


def test_the_adapters_decoder_keeps_the_schemas_error_for_what_is_not_exchange_info():
    import msgspec

    from nautlive.venues.binance.schema import decode_exchange_info

    with pytest.raises(msgspec.ValidationError):
        decode_exchange_info(b'{"code": -1121, "msg": "Invalid symbol."}')
    with pytest.raises(msgspec.DecodeError):
        decode_exchange_info(b'{"symbols": [')
