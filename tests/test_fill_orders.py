"""One row per order where a person reads fills: the session's fill table and the report's worst orders (issue 30,
item 2). The drift log keeps every book level."""

import json
from decimal import Decimal
from types import SimpleNamespace

from nautlive import report
from nautlive.cli.sessions import _render_session
from nautlive.report.fill_orders import by_order


def levels(order: int, instrument: str, side: str, mid: str, prices: list[str], qty: str = "0.25") -> list[dict]:
    """An order that walked `len(prices)` levels of the book, one drift-log line per level."""
    sign = 1 if side == "BUY" else -1
    return [{"ts": f"2026-11-24T23:09:4{order}.156378Z", "session": "shadow-1", "mode": "shadow", "venue": "BINANCE",
             "instrument": instrument, "side": side, "qty": qty, "fill_px": px, "mid_at_submit": mid,
             "drift_bps": round(sign * (float(px) - float(mid)) / float(mid) * 1e4, 4),
             "notional": str(Decimal(qty) * Decimal(px)), "client_order_id": f"O-{order}", "alert": False}
            for px in prices]


FILLS = [
    *levels(1, "BTCUSDT.BINANCE", "BUY", "61797.155", ["61797.17", "61797.18", "61797.19", "61797.20"]),
    *levels(2, "ETHUSDT.BINANCE", "BUY", "2599.995", ["2600", "2600.01", "2600.02", "2600.03"]),
    *levels(3, "BTCUSDT.BINANCE", "SELL", "61772.915", ["61772.9", "61772.89", "61772.88", "61772.87"]),
    *levels(4, "ETHUSDT.BINANCE", "BUY", "2601.605", ["2601.61", "2601.62", "2601.63", "2601.64"]),
]


def test_an_order_is_one_row_with_its_vwap_qty_and_levels():
    orders = by_order(FILLS)
    assert [(o.client_order_id, o.qty, o.vwap, o.levels) for o in orders] == [
        ("O-1", Decimal("1.00"), Decimal("61797.185"), 4), ("O-2", Decimal("1.00"), Decimal("2600.015"), 4),
        ("O-3", Decimal("1.00"), Decimal("61772.885"), 4), ("O-4", Decimal("1.00"), Decimal("2601.625"), 4)]
    assert orders[2].drift_bps == round((61772.915 - 61772.885) / 61772.915 * 1e4, 4)  # a SELL below the mid: a cost
    single = by_order(FILLS[:1])[0]
    assert single.vwap == Decimal("61797.17") and single.levels == 1


def test_the_session_fill_table_has_one_row_per_order(capsys):
    result = SimpleNamespace(mode="shadow", session="shadow-1", fills=FILLS, final_weights={}, rebalances=[],
                             drift_alerts=0, superseded=0, budget_refusals=[], stream_reestablished=0, reason="ok",
                             orders_by_fate={}, adopted=[], capped=[])
    _render_session(result, json_out=False, summary=None)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "instrument\tside\tqty\tvwap\tlevels\tmid at submit\tdrift bps"
    assert out[2].startswith("BTCUSDT.BINANCE\tBUY\t1\t61797.185\t4\t61797.155\t")
    assert out.index("# shadow shadow-1: weights") == 6  # header, columns, 4 orders (not 16 levels)


def test_the_reports_worst_are_orders_not_levels(tmp_path):
    log = tmp_path / "drift.log"
    log.write_text("".join(json.dumps(f) + "\n" for f in FILLS))
    venue = report.summarise(report.read_drift_log([log], use_cache=False)).venues[0]
    assert venue.overall.fills == 16  # the statistics still count every level
    assert sorted(w.client_order_id for w in venue.worst) == ["O-1", "O-2", "O-3", "O-4"]
    worst = {w.client_order_id: w for w in venue.worst}["O-2"]
    assert (worst.qty, worst.fill_px, worst.levels) == ("1", "2600.015", 4)
    assert [w.drift_bps for w in venue.worst] == sorted((w.drift_bps for w in venue.worst), reverse=True)


def test_a_target_file_rejected_mid_run_is_told_in_nautlives_own_words(capsys):
    from nautlive.session.display import PlainProgress

    watcher = SimpleNamespace(rejected=[])
    progress = PlainProgress(SimpleNamespace(drift=None, reports=[], watcher=watcher))
    progress.emit()
    watcher.rejected.append("artifacts/orders/target_weights.json: weights sum to 1.2, above 1")
    progress.emit()
    progress.emit()  # told once
    assert capsys.readouterr().err == ("warning: target file rejected (the last good target stays in force): "
                                       "artifacts/orders/target_weights.json: weights sum to 1.2, above 1\n")


def test_the_watcher_leaves_the_telling_to_the_display(tmp_path):
    from nautlive.core.signals import TargetWeightWatcher

    said = []
    log = SimpleNamespace(warning=lambda m: said.append(("WARN", m)), info=lambda m: said.append(("INFO", m)))
    path = tmp_path / "t.json"
    path.write_text('{"BTCUSDT.BINANCE": 1.5}')
    watcher = TargetWeightWatcher(path, ["BTCUSDT.BINANCE"], "BINANCE", lambda t: None, log)
    assert watcher.apply_current() is None and len(watcher.rejected) == 1
    assert [level for level, _ in said] == ["INFO"]  # no raw [WARN] line from Nautilus's logger


def test_the_pages_drift_over_time_draws_each_fill_as_a_point(tmp_path):
    from nautlive.report.charts import venue_figure

    log = tmp_path / "drift.log"
    log.write_text("".join(json.dumps(f) + "\n" for f in FILLS))
    figure = venue_figure(report.read_drift_log([log], use_cache=False), "BINANCE")
    over_time = [t for t in figure.data if t.xaxis == "x2"]
    assert over_time and all(t.mode == "markers" for t in over_time)
