"""Catalog: load/save round trip, conversion to and from Nautilus instruments, bad catalogs."""

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from nautlive.catalog.specs import (
    ExecutionMetadataCatalog,
    InstrumentSpec,
    load_catalog,
    save_catalog,
    spec_from_instrument,
    spec_to_instrument,
)
from nautlive.cli.app import app
from nautlive.errors import ConfigError

from .conftest import REPO, shared_file

runner = CliRunner()


def test_shipped_catalog_matches_the_2023_capture():
    raw = json.loads(shared_file("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json").read_text())
    symbols = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in raw["symbols"]}
    catalog = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml")
    assert [s.instrument_id for s in catalog.instruments] == ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
    for spec in catalog.instruments:
        filters = symbols[spec.symbol]
        assert spec.tick_size == Decimal(filters["PRICE_FILTER"]["tickSize"])
        assert spec.step_size == Decimal(filters["LOT_SIZE"]["stepSize"])
        assert spec.min_qty == Decimal(filters["LOT_SIZE"]["minQty"])
        assert spec.market_max_qty == Decimal(filters["MARKET_LOT_SIZE"]["maxQty"])
        assert spec.min_notional == Decimal(filters["NOTIONAL"]["minNotional"])
        assert spec.max_notional is None  # applyMaxToMarket is false: market orders are not capped
        assert spec.price_precision == 8 and spec.status == "TRADING"


def test_round_trip_keeps_decimals_exact(tmp_path):
    spec = InstrumentSpec(instrument_id="X.BINANCE", tick_size=Decimal("0.00000001"), step_size=Decimal("1E+1"),
                          min_notional=Decimal("5.10"), base="X", quote="USDT")
    save_catalog(ExecutionMetadataCatalog(venue="BINANCE", instruments=[spec]), tmp_path / "c.yaml")
    text = (tmp_path / "c.yaml").read_text()
    assert '"0.00000001"' in text and '"10"' in text and "max_qty" not in text  # absent fields omitted
    assert load_catalog(tmp_path / "c.yaml").instruments == [spec]


def test_block_style_yaml_is_accepted(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "venue: BINANCE\ninstruments:\n  - instrument_id: BTCUSDT.BINANCE\n    tick_size: 0.01\n    step_size: '0.00001'\n"
    )
    spec = load_catalog(tmp_path / "c.yaml").instruments[0]
    assert spec.tick_size == Decimal("0.01") and spec.step_size == Decimal("0.00001")


def test_to_nautilus_and_back(repo_cwd):
    for spec in load_catalog("artifacts/catalog/binance.yaml").instruments:
        instrument = spec_to_instrument(spec, taker_fee=Decimal("0.001"))
        assert instrument.price_precision == 8 and instrument.size_precision == 8
        back = spec_from_instrument(instrument)
        for field in ("tick_size", "step_size", "min_qty", "max_qty", "min_notional", "base", "quote"):
            assert getattr(back, field) == getattr(spec, field), field


def test_equity_spec_becomes_equity():
    spec = InstrumentSpec(instrument_id="AAPL.NASDAQ", tick_size=Decimal("0.01"), step_size=Decimal("1"),
                          min_qty=Decimal("1"), quote="USD", price_precision=2, size_precision=0)
    instrument = spec_to_instrument(spec, taker_fee=Decimal(0))
    assert type(instrument).__name__ == "Equity" and str(instrument.id) == "AAPL.NASDAQ"


BAD = {
    "missing": (None, "catalog not found"),
    "not yaml": ("venue: [unclosed\n", "not valid YAML"),
    "no instruments key": ("venue: BINANCE\n", "expected a mapping with `venue` and `instruments`"),
    "non-decimal": ('{"venue":"BINANCE","instruments":[{"instrument_id":"BTCUSDT.BINANCE","tick_size":"abc"}]}',
                    "BTCUSDT.BINANCE: tick_size: expected a decimal string, got 'abc'"),
    "unknown field": ('{"venue":"BINANCE","instruments":[{"instrument_id":"B.BINANCE","tick":"1"}]}', "tick"),
    "record not a mapping": ("venue: BINANCE\ninstruments: [3]\n", "instruments[0]: expected a mapping"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_catalog(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "catalog.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_bad_catalog_through_the_cli_is_exit_2(repo_cwd, tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text('{"venue":"BINANCE","instruments":[{"instrument_id":"BTCUSDT.BINANCE","min_qty":"1.2.3"}]}')
    capture = shared_file("binance", "exchange_info", "binance_spot_exchange_info_2023-09-08.json")
    result = runner.invoke(app, ["reconcile", "--venue", "binance", "--from-file", str(capture), "--catalog", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "min_qty: expected a decimal string" in result.stderr
