"""Issue #31: drift-report groups fills by parent order and execution style when the log names them
(parent_order_id, style, arrival_mid, parent_qty, parent_ts); a log written before has the report it always had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nautlive import report
from nautlive.cli.app import app
from nautlive.report import cache, read
from nautlive.report.parents import by_parent, by_style, read_parent_fills

OLD = {"session": "s1", "mode": "live", "venue": "BINANCE", "instrument": "ETHUSDT.BINANCE", "side": "BUY",
       "last_tick_px": None, "target_hash": "h", "alert": False, "fee_currency": "USDT"}


def line(ts: str, qty: float, px: float, mid: float, coid: str, fee: float, **parent: object) -> dict:
    return {**OLD, "ts": ts, "qty": str(qty), "fill_px": str(px), "mid_at_submit": str(mid),
            "drift_bps": (px - mid) / mid * 1e4, "notional": str(qty * px), "client_order_id": coid,
            "fee": str(fee), "fee_quote": str(fee), **parent}


def twap(ts: str, qty: float, px: float, mid: float, coid: str) -> dict:
    return line(ts, qty, px, mid, coid, qty * px * 0.001, parent_order_id="O-1", style="twap", arrival_mid="100",
                parent_qty="4", parent_ts="2026-12-07T10:00:00Z")


@pytest.fixture
def new_log(tmp_path: Path) -> Path:
    lines = [
        twap("2026-12-07T10:00:00.100Z", 1, 100.01, 100.0, "O-1"),  # each child against its own mid at submit
        twap("2026-12-07T10:00:20.100Z", 1, 100.03, 100.02, "O-2"),
        twap("2026-12-07T10:00:40.100Z", 1, 100.05, 100.04, "O-3"),
        line("2026-12-07T10:01:00Z", 2, 200.2, 200.0, "O-9", 0.4, parent_order_id="O-9", style="market",
             arrival_mid="200", parent_qty="2", parent_ts="2026-12-07T10:00:59.5Z"),
    ]
    path = tmp_path / "drift.log"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"ts": "2026-12-07T1')  # a cut last line
    return path


def test_each_parent_and_style_has_its_slippage_shortfall_fees_fill_ratio_and_time(new_log):
    parents = by_parent(read_parent_fills([new_log]))
    twap_parent, market_parent = parents
    assert (twap_parent.parent_order_id, twap_parent.children, twap_parent.style) == ("O-1", 3, "twap")
    assert twap_parent.slippage_bps == pytest.approx(1.0, abs=0.01)  # 1 cent over each child's own mid
    assert twap_parent.shortfall_bps == pytest.approx(3.0, abs=0.01)  # 1, 3 and 5 bps over the arrival mid
    assert twap_parent.fees_bps == pytest.approx(10.0) and twap_parent.fill_ratio == pytest.approx(0.75)
    assert twap_parent.seconds_to_complete == pytest.approx(40.1)
    assert market_parent.shortfall_bps == pytest.approx(10.0) and market_parent.seconds_to_complete == 0.5
    styles = {s.style: s for s in by_style(parents)}
    assert styles["twap"].parents == 1 and styles["market"].slippage_bps == pytest.approx(10.0)


def test_drift_report_prints_the_style_and_parent_tables_and_json_lists_them(new_log):
    text = CliRunner().invoke(app, ["drift-report", "--log", str(new_log), "--no-cache"])
    assert text.exit_code == 0, text.output
    assert "# by execution style" in text.output and "# by parent order" in text.output
    out = CliRunner().invoke(app, ["drift-report", "--log", str(new_log), "--no-cache", "--json"])
    report = json.loads(out.stdout)
    assert [s["style"] for s in report["by_style"]] == ["market", "twap"]
    assert [p["parent_order_id"] for p in report["by_parent"]] == ["O-1", "O-9"]
    page = new_log.parent / "page.html"
    assert CliRunner().invoke(app, ["drift-report", "--log", str(new_log), "--no-cache", "--html", str(page)]).exit_code == 0
    assert "<h2>execution styles</h2>" in page.read_text() and "O-9" in page.read_text()
    only_market = CliRunner().invoke(app, ["drift-report", "--log", str(new_log), "--no-cache", "--json",
                                           "--since", "2026-12-07T10:00:50Z"])
    assert [s["style"] for s in json.loads(only_market.stdout)["by_style"]] == ["market"]  # the filters hold


def test_a_log_without_the_parent_fields_reports_exactly_as_before(new_log, tmp_path):
    old = tmp_path / "old.log"
    keep = {"ts", "session", "mode", "venue", "instrument", "side", "qty", "fill_px", "mid_at_submit",
            "last_tick_px", "drift_bps", "notional", "client_order_id", "target_hash", "alert", "fee", "fee_currency",
            "fee_quote"}
    lines = [json.loads(x) for x in new_log.read_text().splitlines()[:-1]]
    old.write_text("".join(json.dumps({k: v for k, v in x.items() if k in keep}) + "\n" for x in lines))
    text = CliRunner().invoke(app, ["drift-report", "--log", str(old), "--no-cache"])
    assert text.exit_code == 0 and "by execution style" not in text.output and "# by parent order" not in text.output
    report = json.loads(CliRunner().invoke(app, ["drift-report", "--log", str(old), "--no-cache", "--json"]).stdout)
    assert "by_style" not in report and "by_parent" not in report
    assert read_parent_fills([old]) == []


@pytest.mark.parametrize("parallel", [False, True])
def test_the_reader_tells_which_logs_name_parents_cached_or_not(new_log, tmp_path, monkeypatch, parallel):
    """The parent figures read only the logs the reader saw a parent in: the cache must remember it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    if parallel:
        monkeypatch.setattr(read, "CHUNK_BYTES", 200)
        monkeypatch.setattr(read, "PARALLEL_MIN_BYTES", 0)
    old = tmp_path / "old.log"
    old.write_text("".join(json.dumps(line(f"2026-12-07T09:00:0{i}Z", 1, 100.01, 100.0, f"P-{i}", 0.1)) + "\n"
                           for i in range(5)))
    lines = new_log.read_text().splitlines(keepends=True)
    mixed = tmp_path / "mixed.log"
    mixed.write_text("".join(lines[:2]))

    def naming_parents(use_cache: bool = True) -> list[str]:
        return report.read_drift_log([old, mixed], use_cache=use_cache).paths_naming_parents

    assert naming_parents() == naming_parents(use_cache=False) == [str(mixed)]
    assert naming_parents() == [str(mixed)]  # all from the cache
    where = cache.folder(mixed.stat())
    before_the_flag = {k: v for k, v in json.loads((where / "meta.json").read_text()).items() if k != "names_parents"}
    (where / "meta.json").write_text(json.dumps(before_the_flag | {"version": 1}))
    assert naming_parents() == [str(mixed)]  # a cache written before the flag is rebuilt, not taken as naming none
    with open(old, "a") as f:
        f.write(lines[2])  # a parent appended to a cached log that had none
    assert naming_parents() == naming_parents(use_cache=False) == [str(old), str(mixed)]
    assert naming_parents() == [str(old), str(mixed)]
    out = CliRunner().invoke(app, ["drift-report", "--log", str(old), "--log", str(mixed), "--json"])
    no_cache = CliRunner().invoke(app, ["drift-report", "--log", str(old), "--log", str(mixed), "--json", "--no-cache"])
    assert json.loads(out.stdout) == json.loads(no_cache.stdout)
    assert [p["parent_order_id"] for p in json.loads(out.stdout)["by_parent"]] == ["O-1"]


def test_a_parent_line_the_reader_finds_malformed_still_has_its_parent_figures(new_log, tmp_path):
    """The parent figures take lines drift-report's own reader cannot (no `alert` here): the log is read for them."""
    odd = tmp_path / "odd.log"
    fills = [json.loads(x) for x in new_log.read_text().splitlines()[:-1]]
    plain = line("2026-12-07T09:00:00Z", 1, 100.01, 100.0, "P-1", 0.1)  # a fill naming no parent
    odd.write_text(json.dumps(plain) + "\n" + json.dumps({k: v for k, v in fills[-1].items() if k != "alert"}) + "\n")
    assert report.read_drift_log([odd], use_cache=False).paths_naming_parents == [str(odd)]
    out = CliRunner().invoke(app, ["drift-report", "--log", str(odd), "--no-cache", "--json"])
    assert [p["parent_order_id"] for p in json.loads(out.stdout)["by_parent"]] == ["O-9"]
