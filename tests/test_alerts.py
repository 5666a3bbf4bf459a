"""Alerts (#17) against real local receivers: aiohttp for json:// and form://, aiosmtpd for mailto://, a port that
refuses connections and a receiver that answers after 10 s. Only loopback addresses."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from decimal import Decimal
from types import SimpleNamespace

import msgspec
import pytest
from typer.testing import CliRunner

from nautlive.alerts import events
from nautlive.alerts.delivery import AlertSink, Throttle, send_each
from nautlive.cli.app import app
from nautlive.config.profile import AlertSettings, load_profile, redacted
from nautlive.errors import ConfigError
from nautlive.session.alerts import SessionAlerts
from tests.alert_helpers import BTC, SECRET, Receiver, alert_profile, mismatch, record, refused_url, report, settings
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


# One event of every kind, as a session, drift-report or alerts test builds them.
EVERY_EVENT = [
    events.started("live", "binance", "BINANCE", "live-1", "venue", "targets.json"),
    events.drift(record(), Decimal(25)),
    events.rebalance(report(), 1, {BTC: (Decimal("0.4995"), Decimal("0.5"))}),
    events.rejected("rejected", {"client_order_id": "O-1", "reason": "-1013 Filter failure: NOTIONAL"},
                    report().orders[0], "ab7e"),
    events.refused("daily turnover 2x NAV would be exceeded", True),
    events.target_rejected("weights sum to 1.2, above 1"),
    events.mismatch([mismatch("BLOCKING"), mismatch("WARNING")]),
    events.kill_switch("artifacts/KILL"),
    events.venue_down("BINANCE", "2026-11-24T12:00:00+00:00", 300),
    events.venue_up("BINANCE", 42),
    events.drift_report("notional-weighted mean drift above --fail-above 5 bps: BINANCE 7.20 bps", ["drift.log"]),
    events.ended(1, "1 order(s) rejected, 0 unfilled", 1, 2, 1, 0),
    events.ended(0, "targets ab7e applied: 2 orders filled", 1, 2, 2, 0),
]
EXPECTED = {  # kind -> (title, words the body must hold, apprise type)
    "started": ("live session started", ["live-1", "binance", "venue"], "info"),
    "drift": ("drift alert BTCUSDT.BINANCE +31.20 bps",
              ["BUY 0.5 BTCUSDT.BINANCE", "61850", "61657.6", "+31.20 bps", "threshold 25 bps"], "warning"),
    "rebalance": ("rebalance ab7e done: 1 orders, 1 fills", ["BTCUSDT.BINANCE 0.4995 (target 0.5000, -0.0005)"],
                  "success"),
    "rejected": ("order rejected: BUY 0.5 BTCUSDT.BINANCE", ["O-1 rejected: -1013 Filter failure: NOTIONAL"],
                 "failure"),
    "refused": ("rebalance refused by a risk budget", ["daily turnover"], "warning"),
    "target_rejected": ("target file rejected", ["above 1", "last good target stays in force"], "warning"),
    "mismatch": ("catalog mismatch at start: 1 blocking, 1 warnings",
                 ["BTCUSDT.BINANCE min_notional: catalog 5, venue 10 (BLOCKING)"], "failure"),
    "kill_switch": ("kill switch appeared", ["artifacts/KILL", "exit 4"], "failure"),
    "venue_down": ("BINANCE not answering", ["since 2026-11-24T12:00:00", "300 s"], "failure"),
    "venue_up": ("BINANCE answering again", ["42 s"], "success"),
    "drift_report": ("drift above --fail-above", ["BINANCE 7.20 bps", "drift.log"], "failure"),
    "failed": ("session failed (exit 1)", ["1 order(s) rejected", "1 rebalances, 2 orders, 1 fills"], "failure"),
    "ended": ("session ended (exit 0)", ["targets ab7e applied"], "success"),
}


def check_payload(got: dict, kind: str, origin: str = "nautlive t") -> None:
    title, words, level = EXPECTED[kind]
    assert got["title"] == f"{origin}: {title}" and got["type"] == level, got
    for word in words:
        assert word in got["message"], (word, got["message"])


# -- delivery --------------------------------------------------------------------------------------------------------


def test_every_event_reaches_a_json_and_a_form_receiver_with_its_figures(receiver):
    assert sorted({e.kind for e in EVERY_EVENT}) == sorted(events.EVENT_KINDS)
    sink = AlertSink(settings(receiver.url("json", "hook"), receiver.url("form", "form")), "nautlive t")
    for event in EVERY_EVENT:
        sink.emit(event)
    sink.close()
    got = receiver.wait(2 * len(EVERY_EVENT))
    for path in ("/hook", "/form"):
        arrived = [g for g in got if g["path"] == path]
        assert len(arrived) == len(EVERY_EVENT)
        for event, payload in zip(EVERY_EVENT, arrived, strict=True):  # in order, one worker per URL
            check_payload(payload, event.kind)


def test_mailto_reaches_a_local_smtp_server():
    from aiosmtpd.controller import Controller

    mails = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            mails.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = f"mailto://127.0.0.1:{port}?from=nautlive@localhost&to=ops@localhost&mode=insecure"
        [(label, error)] = send_each([url], events.drift(record(), Decimal(25)), "nautlive t")
    finally:
        controller.stop()
    assert error is None and label.startswith("alerts.urls[0] mailto://")
    [mail] = mails
    assert mail.rcpt_tos == ["ops@localhost"]
    text = mail.content.decode()
    assert "Subject: nautlive t: drift alert BTCUSDT.BINANCE +31.20 bps" in text and "threshold 25 bps" in text


def test_a_refused_url_is_reported_once_a_slow_one_blocks_nothing_and_close_is_bounded(receiver):
    lines: list[str] = []
    urls = [refused_url(), receiver.url("json", "slow", f"user:{SECRET}@"), receiver.url("json", "hook")]
    sink = AlertSink(settings(*urls, flush_secs=1.0), "nautlive t", lines.append)
    began = time.perf_counter()
    for _ in range(5):
        sink.emit(events.drift(record(), Decimal(25)))
    assert time.perf_counter() - began < 0.05  # queued, not sent
    assert len([g for g in receiver.wait(5) if g["path"] == "/hook"]) == 5  # the slow receiver holds up nobody else
    began = time.perf_counter()
    sink.close()
    assert time.perf_counter() - began < 1.5  # alerts.flush_secs, not the slow receiver's 10 s
    refused = [line for line in lines if line.startswith("alerts.urls[0]")]
    assert refused[0].endswith("Connection refused (later failures of this target are counted, not shown)")
    assert refused[1:] == ["alerts.urls[0] " + urls[0].split("?")[0] + ": 5 of 5 messages failed"]
    assert any(line.startswith("alerts.urls[1] json://user:****@") and "not all delivered" in line for line in lines)
    assert SECRET not in "\n".join(lines)


def test_a_rebalance_whose_order_the_book_filled_in_part_is_a_warning_saying_so():
    expired = [{"client_order_id": "O-1", "instrument": BTC, "side": "BUY", "filled": "0.3", "expired": "0.2"}]
    event = events.rebalance(report(expired=expired), 3, {})
    assert event.kind == "rebalance" and event.level == "warning"
    assert f"{BTC} BUY: the book filled 0.3, 0.2 expired" in event.body
    assert events.rebalance(report(), 1, {}).level == "success"


def test_per_kind_throttle_sends_the_first_and_digests_the_rest():
    throttle = Throttle(60)
    drift = [events.drift(record(bps), Decimal(25)) for bps in (30, 40, 50)]
    assert throttle.offer(drift[0], 0) is drift[0]
    assert throttle.offer(drift[1], 1) is None and throttle.offer(drift[2], 2) is None
    fill = events.rebalance(report(), 1, {})
    assert throttle.offer(fill, 3) is fill  # another kind has its own interval
    assert throttle.due(59) == [] and throttle.next_due() == 60
    [held] = throttle.due(60)
    assert held.kind == "drift" and held.title == "2 more drift event(s)"
    assert "+40.00 bps" in held.body and "+50.00 bps" in held.body and "min_interval_secs (60 s)" in held.body
    assert throttle.offer(drift[0], 61) is None and len(throttle.drain()) == 1 and throttle.next_due() is None


def test_events_not_listed_are_not_sent_and_held_ones_go_before_the_end(receiver):
    sink = AlertSink(settings(receiver.url("json", "hook"), events=["drift", "failed"], min_interval_secs=60),
                     "nautlive t")
    for bps in (30, 40, 50):
        sink.emit(events.drift(record(bps), Decimal(25)))
    sink.emit(events.rebalance(report(), 1, {}))  # not listed
    sink.emit(events.ended(1, "venue not ready", 0, 0, 0, 0))
    sink.close()
    titles = [g["title"] for g in receiver.wait(3)]
    assert titles == ["nautlive t: drift alert BTCUSDT.BINANCE +30.00 bps", "nautlive t: 2 more drift event(s)",
                      "nautlive t: session failed (exit 1)"]


# -- the session watcher (plain state, no node) ------------------------------------------------------------------


def test_the_watcher_turns_the_strategys_state_into_events_once_each(tmp_path, monkeypatch):
    monkeypatch.setattr("nautlive.session.alerts._residuals", lambda strategy: {BTC: (Decimal("0.5"), Decimal("0.5"))})
    kill = tmp_path / "KILL"
    profile = SimpleNamespace(name="p", venue="BINANCE", alerts=AlertSettings(), live=SimpleNamespace(down_timeout=300))
    options = SimpleNamespace(kill_switch=str(kill), schedule=[])
    in_flight = report(rejected=[{"client_order_id": "O-1", "reason": "-2010 insufficient balance"}])
    strategy = SimpleNamespace(
        startup=None, mismatches=[mismatch("WARNING")], drift=SimpleNamespace(records=[], alert_bps=Decimal(25)),
        reports=[], all_reports=lambda: strategy.reports + [in_flight], budget_refusals=[],
        watcher=SimpleNamespace(rejected=[]), config=SimpleNamespace(enforce_budget=False))
    venue = SimpleNamespace(down_since=None)
    watcher = SessionAlerts(profile, options, {"strategy": strategy, "venue": venue})

    def kinds() -> list[str]:
        return [e.kind for e in watcher.new_events(strategy)]

    assert kinds() == ["rejected"]  # an order of the rebalance in flight, at once
    strategy.startup = "ready"
    strategy.drift.records += [record(), record(1.0, alert=False)]
    strategy.budget_refusals.append("orders per hour 120 would be exceeded")
    strategy.watcher.rejected.append("not JSON")
    assert kinds() == ["mismatch", "drift", "refused", "target_rejected"]
    strategy.reports.append(in_flight)  # it finished: one rebalance event, its rejection not again
    venue.down_since = time.monotonic() - 5
    kill.touch()
    assert kinds() == ["rebalance", "kill_switch", "venue_down"]
    venue.down_since = None
    assert kinds() == ["venue_up"]
    assert kinds() == []
    refusal = events.refused("x", strategy.config.enforce_budget)
    assert refusal.title == "a risk budget would refuse this rebalance in LIVE"


# -- profiles, validation, CLI ------------------------------------------------------------------------------------


def test_profile_alerts_interpolate_and_show_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_PASS", SECRET)
    monkeypatch.setenv("TG_TOKEN", "123456789:AAHsecrettoken")
    monkeypatch.setenv("SLACK_WEBHOOK", "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    path = alert_profile(tmp_path, {"urls": ["json://user:${HOOK_PASS}@127.0.0.1:9000/hook",
                                             "tgram://${TG_TOKEN}/987654", "${SLACK_WEBHOOK}"]})
    profile = load_profile(profile=path)
    assert profile.alerts.urls[0] == f"json://user:{SECRET}@127.0.0.1:9000/hook"
    assert profile.alerts.events == list(events.EVENT_KINDS) and profile.alerts.flush_secs == 3
    shown = redacted(profile)["alerts"]["urls"]
    assert shown[0] == "json://user:****@127.0.0.1:9000/hook"
    assert shown[1].startswith("tgram://1...n/") and shown[2].startswith("slack://T...2/A...D/T...Q/")
    out = runner.invoke(app, ["profiles", "show", "--profile", str(path)]).output
    for secret in (SECRET, "AAHsecrettoken", "123456789", "TIiajkdnlazkcOXrIdevi7FQ"):
        assert secret not in out


@pytest.mark.parametrize(("alerts", "message"), [
    ({"urls": [f"foo://user:{SECRET}@host"]}, "alerts.urls[0]: not an apprise URL: unknown service foo://"),
    ({"urls": [f"json://user:{SECRET}@"]}, "alerts.urls[0]: apprise cannot use this json:// URL"),
    ({"events": ["drift", "fills"]}, "alerts.events[1]: unknown event 'fills' (expected some of started, ended"),
    ({"min_interval_secs": -1}, "alerts.min_interval_secs: must be 0 or more, got -1"),
    ({"flush_secs": 0}, "alerts.flush_secs: must be above 0, got 0"),
    ({"url": ["json://127.0.0.1/hook"]}, "alerts.url: unknown key"),
])
def test_bad_alert_settings_are_refused_naming_the_key_never_the_url(tmp_path, alerts, message):
    with pytest.raises(ConfigError) as caught:
        load_profile(profile=alert_profile(tmp_path, alerts))
    assert message in str(caught.value) and SECRET not in str(caught.value)


def test_alerts_test_prints_ok_or_the_error_per_target_and_exits_1_if_any_failed(tmp_path, receiver):
    good = alert_profile(tmp_path, {"urls": [receiver.url("json", "hook", f"user:{SECRET}@")]})
    result = runner.invoke(app, ["alerts", "test", "--profile", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output == f"ok\talerts.urls[0] json://user:****@127.0.0.1:{receiver.port}/hook\n"
    assert receiver.got[0]["title"] == "nautlive alerting: test message"
    assert receiver.got[0]["auth"].startswith("Basic ")
    bad = alert_profile(tmp_path, {"urls": [receiver.url("form", "form"), refused_url()]})
    result = runner.invoke(app, ["alerts", "test", "--profile", str(bad)])
    assert result.exit_code == 1
    ok, failed = result.output.splitlines()
    assert ok.startswith("ok\talerts.urls[0] form://") and failed.startswith("failed\talerts.urls[1] json://")
    assert failed.endswith(": A Connection error occurred sending JSON notification to 127.0.0.1: Connection refused")
    none = alert_profile(tmp_path, {})
    result = runner.invoke(app, ["alerts", "test", "--profile", str(none)])
    assert result.exit_code == 2 and "alerts.urls: no alert URL to test" in result.output


def test_drift_report_fail_above_sends_an_alert(tmp_path, receiver):
    path = alert_profile(tmp_path, {"urls": [receiver.url("json", "hook")]})
    line = msgspec.to_builtins(record(12.0))
    (tmp_path / "drift.log").write_text(json.dumps(line) + "\n")
    result = runner.invoke(app, ["drift-report", "--profile", str(path), "--fail-above", "5"])
    assert result.exit_code == 1
    [got] = receiver.wait(1)
    assert got["title"] == "nautlive alerting drift-report: drift above --fail-above" and got["type"] == "failure"
    assert "above --fail-above 5 bps: BINANCE 12.00 bps" in got["message"] and "drift.log" in got["message"]


def test_help_and_a_profile_without_alerts_do_not_import_apprise():
    code = ("import sys\nfrom nautlive.config.profile import load_profile\nload_profile('binance')\n"
            "assert 'apprise' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    subprocess.run([sys.executable, "-c", "import sys\nfrom nautlive.cli.app import main\nsys.argv=['nautlive','--help']\n"
                    "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'apprise' not in sys.modules\n"],
                   cwd=REPO, check=True, capture_output=True)


def test_info_rows_alone_send_no_mismatch_alert():
    """A relaxation (INFO) is no news for a person: only BLOCKING or WARNING rows make a mismatch alert."""
    profile = SimpleNamespace(name="p", venue="BINANCE", alerts=AlertSettings(), live=SimpleNamespace(down_timeout=300))
    strategy = SimpleNamespace(
        startup="ready", mismatches=[mismatch("INFO")], drift=SimpleNamespace(records=[], alert_bps=Decimal(25)),
        reports=[], all_reports=lambda: [], budget_refusals=[], watcher=SimpleNamespace(rejected=[]),
        config=SimpleNamespace(enforce_budget=False))
    watcher = SessionAlerts(profile, SimpleNamespace(kill_switch=None, schedule=[]),
                            {"strategy": strategy, "venue": SimpleNamespace(down_since=None)})
    assert [e.kind for e in watcher.new_events(strategy)] == []
