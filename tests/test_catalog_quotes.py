"""--data-catalog with quote ticks (no bars): read through Nautilus's own catalog API, the same run as the recording."""

import json
import zlib

from nautilus_trader.persistence.catalog import ParquetDataCatalog
from typer.testing import CliRunner

from nautlive.catalog.specs import load_catalog, spec_to_instrument
from nautlive.cli.app import app
from nautlive.data.recorded import read_recorded

from .conftest import REPO, shared_file

runner = CliRunner()
QUOTES = 20_000


def backtest(out, *args):
    result = runner.invoke(app, ["backtest", "--profile", str(REPO / "profiles" / "binance.yaml"),
                                 "--catalog", str(REPO / "artifacts" / "catalog" / "binance.yaml"),
                                 "--targets", str(out.parent / "targets.json"), "--out", str(out), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_catalog_of_quote_ticks_runs_like_the_recording_it_was_written_from(tmp_path):
    (tmp_path / "targets.json").write_text(json.dumps({"BTCUSDT.BINANCE": 0.5}))
    lines = zlib.decompress(shared_file("binance", "market", "btcusdt_20240808.gz").read_bytes(), wbits=31).split(b"\n")
    recording = tmp_path / "btcusdt_slice.txt"
    recording.write_bytes(b"\n".join([line for line in lines if b"@bookTicker" in line[:96]][:QUOTES]) + b"\n")
    spec = load_catalog(REPO / "artifacts" / "catalog" / "binance.yaml").by_id()["BTCUSDT.BINANCE"]
    ticks = read_recorded(recording, {"BTCUSDT": spec_to_instrument(spec)}, kinds=("quotes",))
    assert len(ticks) == QUOTES
    ParquetDataCatalog(str(tmp_path / "nautilus")).write_data(ticks)

    from_catalog = backtest(tmp_path / "a", "--data-catalog", str(tmp_path / "nautilus"))
    from_file = backtest(tmp_path / "b", "--data", str(recording))
    assert from_catalog["quotes"] == QUOTES and from_catalog["orders"] >= 1
    assert from_catalog == from_file
