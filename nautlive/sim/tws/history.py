"""reqHistoricalData as a current IB Gateway answers it: bars of the venue's own price history (history_bars; a
stock's in its trading hours, with useRTH=1 its regular ones: trading_hours), in text or, from server version 208
(MIN_SERVER_VER_PROTOBUF_HISTORICAL_DATA), protobuf, and IB's refusals:

  error 200  no security definition (a contract the venue does not know)
  error 162  "Historical Market Data Service error message:HMDS query returned no data: AAPL@SMART Trades" (a window
             with no bars: before the venue's history begins, in the future, or the market closed throughout)
  error 162  "...Historical data request pacing violation": more than `limit` requests (60) in any `window` (600 s),
             https://interactivebrokers.github.io/tws-api/historical_limitations.html; the refused request is not
             counted
  error 162  "...Time length exceed max." for a duration longer than the bar size allows (IB's step-size table)
  error 321  "Error validating request..." for a bar size, duration or end time IB cannot read

`HistoryRequests` is a part of TwsSimulator (it uses its market and the pacing window); `limit_history` sets the
pacing rule (tests use a short window).
"""

from __future__ import annotations

import time
from collections import deque
from decimal import Decimal

from ibapi import server_versions as sv
from ibapi.message import IN

from nautlive.sim.tws import messages as msg
from nautlive.sim.tws import protos as pb
from nautlive.sim.tws.history_bars import (
    BadRequest,
    bar_date,
    bar_seconds,
    duration_seconds,
    end_time_ms,
    history,
    longest_duration,
)
from nautlive.sim.tws.market import START_PRICES, Market
from nautlive.sim.tws.request_types import Request
from nautlive.sim.tws.trading_hours import sessions_for
from nautlive.sim.tws.venue_account import Peer

HMDS = "Historical Market Data Service error message:"
PACING_LIMIT, PACING_WINDOW = 60, 600.0  # requests per seconds, IB's rule for historical data
NO_DEFINITION = (200, "No security definition has been found for the request")
NOT_VALID = 321


class Pacing:
    """IB's historical data pacing: at most `limit` requests in any `window` seconds (a sliding window)."""

    def __init__(self, limit: int = PACING_LIMIT, window: float = PACING_WINDOW) -> None:
        self.limit, self.window = limit, window
        self.sent: deque[float] = deque()
        self.violations = 0

    def admit(self, now: float) -> bool:
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            self.violations += 1
            return False
        self.sent.append(now)
        return True


def _bar(row, bar_s: int, format_date: int) -> tuple:  # noqa: ANN001 - a numpy row
    open_ms, o, h, low, c, v = (float(x) for x in row)
    wap = round((h + low + c) / 3, 6)
    return bar_date(int(open_ms), bar_s, format_date), o, h, low, c, Decimal(int(v)), Decimal(str(wap)), int(v // 100)


def historical_data(req_id: int, bars: list[tuple], start: str, end: str) -> msg.Out:
    """IN.HISTORICAL_DATA: from 196 reqId, count, bars (the end comes as its own message); below it reqId, the
    window's start and end, count, bars."""

    def fields(version: int) -> list:
        head: list[object] = [req_id] if version >= sv.MIN_SERVER_VER_HISTORICAL_DATA_END else [req_id, start, end]
        return [*head, len(bars), *(value for bar in bars for value in bar)]

    def proto():  # noqa: ANN202
        return pb.proto("HistoricalData", reqId=req_id, historicalDataBars=[
            pb.proto("HistoricalDataBar", date=d, open=o, high=h, low=low, close=c, volume=pb.decimal_text(v),
                     WAP=pb.decimal_text(w), barCount=n) for d, o, h, low, c, v, w, n in bars])

    return msg.Out(IN.HISTORICAL_DATA, fields, proto)


def historical_data_end(req_id: int, start: str, end: str) -> msg.Out:
    return msg.Out(IN.HISTORICAL_DATA_END, lambda version: [req_id, start, end],
                   lambda: pb.proto("HistoricalDataEnd", reqId=req_id, startDateStr=start, endDateStr=end))


def _window_text(ms: int) -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ms / 1000))


class HistoryRequests:
    market: Market
    history_pacing: Pacing

    def find_contract(self, contract: dict) -> int | None:
        found = self.market.find(contract)
        return int(found[0]["contract"]["conId"]) if len(found) == 1 else None

    def limit_history(self, limit: int, window: float) -> None:
        if limit < 1 or not window > 0:
            raise ValueError("limit: expected 1 or more; window: seconds above 0")
        self.history_pacing = Pacing(limit, window)

    def _on_reqHistoricalData(self, peer: Peer, request: Request) -> None:  # noqa: N802 - named after the request
        req_id, values = request.req_id, request.values
        con_id = self.find_contract(request.contract)
        if con_id is None:
            peer.send(msg.error(req_id, *NO_DEFINITION))
            return
        if not self.history_pacing.admit(time.monotonic()):
            peer.send(msg.error(req_id, 162, f"{HMDS}Historical data request pacing violation"))
            return
        now_ms = int(time.time() * 1000)
        try:
            bar_s = bar_seconds(values["bar_size"])
            duration = duration_seconds(values["duration"])
            end_ms = end_time_ms(values["end"], now_ms)
        except BadRequest as exc:
            peer.send(msg.error(req_id, NOT_VALID, f"Error validating request.-'bP' : cause - {exc}"))
            return
        if duration > longest_duration(bar_s):
            peer.send(msg.error(req_id, 162, f"{HMDS}Time length exceed max."))
            return
        start_ms = end_ms - duration * 1000
        bars = self._bars(con_id, start_ms, end_ms, now_ms, bar_s, values.get("format_date", 1),
                          bool(values.get("use_rth")))
        if not bars:
            contract = self.market.contract(con_id)
            what = str(values.get("what", "TRADES")).title()
            peer.send(msg.error(req_id, 162, f"{HMDS}HMDS query returned no data: {contract.get('symbol')}@"
                                             f"{contract.get('exchange') or 'SMART'} {what}"))
            return
        start, end = _window_text(start_ms), _window_text(end_ms)
        peer.send(historical_data(req_id, bars, start, end))
        if peer.version >= sv.MIN_SERVER_VER_HISTORICAL_DATA_END:
            peer.send(historical_data_end(req_id, start, end))

    def _on_cancelHistoricalData(self, peer: Peer, request: Request) -> None:  # noqa: N802
        """Every answer went out at once: nothing is left to cancel."""

    def _bars(self, con_id: int, start_ms: int, end_ms: int, now_ms: int, bar_s: int, format_date: int,
              rth: bool = False) -> list[tuple]:
        details = self.market.details[con_id]
        start_price = float(START_PRICES.get(details["contract"].get("symbol", ""), Decimal(100)))
        key = con_id * 1_000_003 + self.market.seed
        rows = history(start_ms, end_ms, now_ms, bar_s * 1000, start_price, float(details["minTick"]), key,
                       sessions_for(details), rth)
        return [_bar(row, bar_s, format_date) for row in rows]
