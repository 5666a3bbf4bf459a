"""The TWS venue's reqHistoricalData: read as ibapi's EClient writes it (text and protobuf), answered with messages
ibapi's Decoder reads field for field, bars from a price history that does not depend on how it is asked for, and
IB's refusals (step-size limits, no data, pacing)."""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from ibapi.contract import Contract

from nautlive.data.klines import parse_time
from nautlive.sim.tws import build_tws_simulator
from nautlive.sim.tws.history import Pacing, historical_data, historical_data_end
from nautlive.sim.tws.history_bars import HISTORY_FROM_MS, history, longest_duration, minute_bars, roll_up
from nautlive.sim.tws.request_types import Request
from nautlive.sim.tws.requests import parse
from tests.test_tws_sim import AAPL, CATALOG, SERVER_VERSION, decode, written

MS = parse_time


@pytest.mark.parametrize("version", [176, 178, 200, 207, 208, SERVER_VERSION])
def test_req_historical_data_is_read_as_the_eclient_writes_it(version):
    contract = Contract()
    contract.__dict__.update(AAPL)
    request = parse(written(lambda c: c.reqHistoricalData(4, contract, "20240102-00:00:00", "1 D", "1 min", "TRADES",
                                                          0, 2, False, []), version), version)
    assert (request.name, request.req_id, request.contract["conId"], request.protobuf) == (
        "reqHistoricalData", 4, 265598, version >= 208)  # MIN_SERVER_VER_PROTOBUF_HISTORICAL_DATA
    assert {k: request.values[k] for k in ("end", "duration", "bar_size", "what", "format_date")} == {
        "end": "20240102-00:00:00", "duration": "1 D", "bar_size": "1 min", "what": "TRADES", "format_date": 2}


@pytest.mark.parametrize("version", [176, 195, 196, 200, 207, 208, SERVER_VERSION])
def test_historical_data_decodes_with_its_end_at_every_version(version):
    from decimal import Decimal

    bar = ("1704067200", 190.01, 190.05, 189.98, 190.02, Decimal(300), Decimal("190.0"), 3)
    calls = decode(historical_data(9, [bar, bar], "20240101-00:00:00", "20240102-00:00:00"), version)
    if version >= 196:  # MIN_SERVER_VER_HISTORICAL_DATA_END: the end is a message of its own
        calls += decode(historical_data_end(9, "20240101-00:00:00", "20240102-00:00:00"), version)
    assert [name for name, _ in calls] == ["historicalData", "historicalData", "historicalDataEnd"]
    req_id, first = calls[0][1]
    assert (req_id, first.date, first.open, first.high, first.low, first.close, first.volume, first.barCount) == (
        9, "1704067200", 190.01, 190.05, 189.98, 190.02, 300, 3)
    assert calls[2][1] == (9, "20240101-00:00:00", "20240102-00:00:00")


def test_the_history_is_the_same_whatever_window_or_bar_size_asks_for_it():
    now = int(time.time() * 1000)
    day = history(MS("2024-01-01", ""), MS("2024-01-02", ""), now, 60_000, 190.0, 0.01, 7)
    part = history(MS("2024-01-01T10:00", ""), MS("2024-01-01T11:30", ""), now, 60_000, 190.0, 0.01, 7)
    assert len(day) == 1440 and (day[600:690] == part).all()
    hours = history(MS("2024-01-01", ""), MS("2024-01-02", ""), now, 3_600_000, 190.0, 0.01, 7)
    assert (hours == roll_up(day, 3_600_000)).all() and len(hours) == 24
    assert hours[0][2] == day[:60, 2].max() and hours[0][4] == day[59, 4] and hours[0][5] == day[:60, 5].sum()
    assert (np.round(day[:, 1:5] / 0.01) * 0.01 == pytest.approx(day[:, 1:5])) and (day[:, 3] <= day[:, 2]).all()
    assert len(history(HISTORY_FROM_MS - 86_400_000, HISTORY_FROM_MS, now, 60_000, 190.0, 0.01, 7)) == 0
    assert len(minute_bars(now - 120_000, now + 600_000, 190.0, 0.01, 7)) == 12
    assert len(history(now - 120_000, now + 600_000, now, 60_000, 190.0, 0.01, 7)) in (2, 3)  # nothing in the future


def test_longest_durations_follow_ibs_step_size_table():
    day = 86_400
    assert [longest_duration(s) for s in (60, 180, 900, 1800, 3600, 28_800, day)] == [
        day, 7 * day, 7 * day, 31 * day, 31 * day, 31 * day, 366 * day]


def test_pacing_allows_60_requests_in_any_ten_minutes():
    pacing = Pacing()
    assert all(pacing.admit(float(t)) for t in range(60))
    assert not pacing.admit(599.0) and pacing.violations == 1
    assert pacing.admit(600.5)  # the first request left the window


class _Peer:
    client_id, version, record = 1, SERVER_VERSION, {}

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, *messages) -> None:  # noqa: ANN002
        self.sent += messages


def _ask(sim, **values) -> list:  # noqa: ANN001, ANN003
    peer = _Peer()
    defaults = {"end": "20240102-00:00:00", "duration": "1 D", "bar_size": "1 min", "what": "TRADES",
                "format_date": 2}
    sim.handle(peer, Request(20, "reqHistoricalData", 3, dict(AAPL), {**defaults, **values}))
    return [call for message in peer.sent for call in decode(message)]


@pytest.mark.parametrize(("values", "code", "text"), [
    ({"duration": "2 D"}, 162, "Historical Market Data Service error message:Time length exceed max."),
    ({"end": "20190102-00:00:00"}, 162, "Historical Market Data Service error message:HMDS query returned no data: "
                                        "AAPL@SMART Trades"),
    ({"bar_size": "7 mins"}, 321, "Error validating request.-'bP' : cause - Historical data bar size setting is "
                                  "invalid."),
    ({"duration": "1 day"}, 321, "Error validating request.-'bP' : cause - Historical data query duration"),
])
def test_the_venue_refuses_what_ib_refuses(values, code, text):
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    (name, args), = _ask(sim, **values)
    assert name == "error" and args[0] == 3 and args[2] == code and args[3].startswith(text), args


def test_a_request_past_the_pacing_limit_is_a_162_pacing_violation():
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    sim.limit_history(2, 60.0)
    assert [name for name, _ in _ask(sim)][-1] == "historicalDataEnd"
    assert [name for name, _ in _ask(sim, duration="3600 S")][-1] == "historicalDataEnd"
    (name, args), = _ask(sim)
    assert (name, args[2], args[3]) == ("error", 162, "Historical Market Data Service error message:Historical data "
                                                      "request pacing violation")


# -- trading hours: a stock's bars exist only in its sessions (04:00-20:00 New York time on weekdays) ----------------


def _bars_in_new_york(sim, end: str, **values) -> list[tuple]:  # noqa: ANN001, ANN003
    """The venue's bars of the day before `end` (New York time) as (weekday, hh:mm or the date, bar)."""
    calls = _ask(sim, end=f"{end} 00:00:00 US/Eastern", **values)
    if calls[0][0] == "error":
        return []
    bars = [args[1] for name, args in calls if name == "historicalData"]
    if values.get("bar_size") == "1 day":
        return [(None, bar.date, bar) for bar in bars]
    moments = [dt.datetime.fromtimestamp(int(bar.date), ZoneInfo("US/Eastern")) for bar in bars]
    return [(m.weekday(), m.strftime("%H:%M"), bar) for m, bar in zip(moments, bars, strict=True)]


def test_a_stocks_minute_bars_exist_only_in_its_trading_hours_on_weekdays():
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    wednesday = _bars_in_new_york(sim, "20240606")  # Wednesday 2024-06-05, New York time
    clocks = [clock for _, clock, _ in wednesday]
    assert len(wednesday) == 16 * 60 and {day for day, _, _ in wednesday} == {2}
    assert (clocks[0], clocks[-1]) == ("04:00", "19:59")
    assert "10:00" in clocks and "03:00" not in clocks and "21:00" not in clocks
    assert _bars_in_new_york(sim, "20240609") == []  # Saturday: error 162, no data
    regular = [clock for _, clock, _ in _bars_in_new_york(sim, "20240606", use_rth=True)]
    assert (len(regular), regular[0], regular[-1]) == (390, "09:30", "15:59")


def test_day_bars_are_one_per_weekday_dated_by_the_exchange_date_and_rolled_up_from_its_session():
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    days = _bars_in_new_york(sim, "20240615", duration="14 D", bar_size="1 day")
    assert [date for _, date, _ in days] == ["20240603", "20240604", "20240605", "20240606", "20240607", "20240610",
                                             "20240611", "20240612", "20240613", "20240614"]
    wednesday = days[2][2]
    minutes = [bar for _, _, bar in _bars_in_new_york(sim, "20240606")]  # its session ends after UTC midnight
    assert (wednesday.open, wednesday.close) == (minutes[0].open, minutes[-1].close)
    assert wednesday.high == max(m.high for m in minutes) and wednesday.low == min(m.low for m in minutes)
    assert wednesday.volume == sum(m.volume for m in minutes)
    regular = _bars_in_new_york(sim, "20240615", duration="14 D", bar_size="1 day", use_rth=True)
    assert len(regular) == 10 and regular[2][2].volume < wednesday.volume


def test_contract_details_announce_the_sessions_from_today_in_ibs_format():
    sim = build_tws_simulator(["AAPL.NASDAQ", "SPY.ARCA"], CATALOG, contracts=[])
    peer = _Peer()
    sim.handle(peer, Request(9, "reqContractDetails", 5, dict(AAPL), {}))
    details = next(args[1] for message in peer.sent for name, args in decode(message) if name == "contractDetails")
    assert details.timeZoneId == "US/Eastern"
    days = details.tradingHours.split(";")
    assert len(days) == 7 and days[0].startswith(dt.datetime.now(ZoneInfo("US/Eastern")).strftime("%Y%m%d"))
    for day, liquid in zip(days, details.liquidHours.split(";"), strict=True):
        date = day[:8]
        assert re.fullmatch(rf"{date}:(CLOSED|0400-{date}:2000)", day), day
        assert liquid in (f"{date}:CLOSED", f"{date}:0930-{date}:1600")
        weekend = dt.datetime.strptime(date, "%Y%m%d").weekday() >= 5
        assert day.endswith("CLOSED") == weekend
