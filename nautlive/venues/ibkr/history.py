"""IB's bars for `data download`: reqHistoricalData through IB Gateway (ibapi's own EClient, as the gateway check
uses), chunked by IB's duration limits and paced by its rules (https://interactivebrokers.github.io/tws-api/
historical_limitations.html):

- one request asks for at most the longest duration IB's step-size table allows for the bar size (1 D of 1-minute
  bars, 1 W of 3 to 15 minutes, a month (30 D here) of 30 minutes to 8 hours, a year (365 D) of days); chunks start
  on multiples of that span from the epoch, so a re-run asks for the same chunks;
- no more than 60 requests in any ten minutes: the 61st waits for the oldest to leave the window, and a pacing
  violation IB reports anyway (error 162: another client on the same account spent the budget) is waited out,
  doubling from 1 s, then retried;
- an empty answer (error 162 "HMDS query returned no data") is no bars, not a failure; an unknown contract (error
  200) is one line and exit 2 before any file is touched.

Times go out as `yyyymmdd-hh:mm:ss` (UTC) and come back as epoch seconds (formatDate 2; days as `yyyymmdd`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nautlive.data.download import Piece
from nautlive.data.klines import DAY, INTERVALS, Row
from nautlive.errors import ConfigError, RuntimeFailure
from nautlive.venues.ibkr.gateway import Callbacks, GatewayClient, check_gateway_reachable

if TYPE_CHECKING:
    from nautlive.config.profile import VenueProfile

BAR_SIZES = {"1m": "1 min", "3m": "3 mins", "5m": "5 mins", "15m": "15 mins", "30m": "30 mins", "1h": "1 hour",
             "2h": "2 hours", "4h": "4 hours", "8h": "8 hours", "1d": "1 day"}
CHUNK_DAYS = {"1m": 1, "3m": 7, "5m": 7, "15m": 7, "30m": 30, "1h": 30, "2h": 30, "4h": 30, "8h": 30, "1d": 365}
PACING_LIMIT, PACING_WINDOW = 60, 600.0  # historical data requests in any ten minutes
PACING_RETRIES = 10  # pacing violations waited out per request (1, 2, 4 ... 120 s)
HISTORY_CLIENT_OFFSET = 300  # the download connects as the profile's client id + 300, never a session's own id
REQUEST_TIMEOUT = 60.0  # seconds for one answer
NO_DEFINITION, HMDS_ERROR = 200, 162
INFORMATION = range(2100, 2200)  # farm connection notices and the like: not an answer to a request


class PacingViolation(Exception):
    """Error 162 "Historical data request pacing violation": nothing served, ask again later."""


def bar_size_for(interval: str) -> str:
    if interval not in BAR_SIZES:
        raise ConfigError(f"--interval {interval}: IB has no such bar size (IB: {', '.join(BAR_SIZES)})")
    return BAR_SIZES[interval]


def chunks(start_ms: int, end_ms: int, size_ms: int) -> list[tuple[int, int]]:
    """[start_ms, end_ms) cut at the multiples of `size_ms` from the epoch."""
    out = []
    cursor = start_ms
    while cursor < end_ms:
        stop = min(end_ms, (cursor // size_ms + 1) * size_ms)
        out.append((cursor, stop))
        cursor = stop
    return out


def duration_text(span_ms: int, bar_ms: int = 0) -> str:
    """The duration of a request covering `span_ms` (at least one bar of `bar_ms`): whole days as `N D`, less than a
    day in seconds, else the days rounded up (the bars before the chunk are dropped on arrival)."""
    span_ms = max(span_ms, bar_ms)
    if span_ms < DAY:
        return f"{-(-span_ms // 1000)} S"
    return f"{-(-span_ms // DAY)} D"


def end_text(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y%m%d-%H:%M:%S")


def bar_open_ms(text: str) -> int:
    """A bar's date as IB sends it: epoch seconds, `yyyymmdd` (a day, UTC here), or `yyyymmdd hh:mm:ss[ zone]`."""
    text = text.strip()
    if text.isdigit() and len(text) != 8:
        return int(text) * 1000
    if text.isdigit():
        return int(dt.datetime.strptime(text, "%Y%m%d").replace(tzinfo=dt.UTC).timestamp() * 1000)
    day, clock, *zone = text.split()
    moment = dt.datetime.strptime(f"{day} {clock}", "%Y%m%d %H:%M:%S")
    if zone and zone[0] not in ("UTC", "GMT"):
        from zoneinfo import ZoneInfo

        return int(moment.replace(tzinfo=ZoneInfo(zone[0])).timestamp() * 1000)
    return int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000)


def pacing_wait(sent: Sequence[float], now: float, limit: int = PACING_LIMIT, window: float = PACING_WINDOW) -> float:
    """Seconds before one more request keeps to `limit` requests in any `window` seconds (`sent`: their times)."""
    recent = [t for t in sent if t > now - window]
    return 0.0 if len(recent) < limit else recent[-limit] + window - now


def violation_wait(attempt: int) -> float:
    return float(min(2**attempt, 120))


class _Answer:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.rows: list[Row] = []
        self.contracts: list = []
        self.error: tuple[int, str] | None = None


def _history_callbacks() -> HistoryCallbacks:
    from ibapi.wrapper import EWrapper

    class Wrapped(HistoryCallbacks, EWrapper):
        pass

    return Wrapped()


class HistoryCallbacks(Callbacks):
    """Answers by request id: contract details, bars, or the error that ended the request."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[int, _Answer] = {}

    def expect(self, req_id: int) -> _Answer:
        self.answers[req_id] = _Answer()
        return self.answers[req_id]

    def connectionClosed(self) -> None:  # noqa: N802
        self.fail("the gateway closed the connection" if self.ready.is_set() else
                  "connection lost during the API handshake (closed by the gateway)")

    def fail(self, reason: str) -> None:
        super().fail(reason)
        for answer in self.answers.values():
            answer.done.set()

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson="") -> None:  # noqa: ANN001, N802, N803
        answer = self.answers.get(reqId)
        if answer is None or errorCode in INFORMATION:
            super().error(reqId, errorTime, errorCode, errorString, advancedOrderRejectJson)
            return
        answer.error = (errorCode, errorString)
        answer.done.set()

    def contractDetails(self, reqId, contractDetails) -> None:  # noqa: ANN001, N802, N803
        if reqId in self.answers:
            self.answers[reqId].contracts.append(contractDetails.contract)

    def contractDetailsEnd(self, reqId) -> None:  # noqa: ANN001, N802, N803
        if reqId in self.answers:
            self.answers[reqId].done.set()

    def historicalData(self, reqId, bar) -> None:  # noqa: ANN001, N802, N803
        if reqId in self.answers:
            volume = max(0.0, float(bar.volume))  # MIDPOINT bars carry -1
            self.answers[reqId].rows.append((bar_open_ms(bar.date), float(bar.open), float(bar.high), float(bar.low),
                                             float(bar.close), volume))

    def historicalDataEnd(self, reqId, start, end) -> None:  # noqa: ANN001, N802, N803
        if reqId in self.answers:
            self.answers[reqId].done.set()


def contract_query(profile: VenueProfile, symbol: str):  # noqa: ANN201 - ibapi Contract
    """A stock on SMART (at its primary exchange when the profile lists it: AAPL.NASDAQ), in the profile's currency."""
    from ibapi.contract import Contract

    contract = Contract()
    contract.symbol, contract.secType, contract.exchange = symbol, "STK", "SMART"
    contract.currency = profile.quote_currency
    listed = [iid.rsplit(".", 1)[1] for iid in profile.instruments if iid.rsplit(".", 1)[0] == symbol]
    if listed:
        contract.primaryExchange = listed[0]
    return contract


class IbHistorySource:
    """A download's connection to IB Gateway (as client id + HISTORY_CLIENT_OFFSET) and its pacing."""

    trades_in_sessions = True  # a stock has bars only in its trading hours (useRTH=0: all of them)

    def __init__(self, profile: VenueProfile, interval: str, say: Callable[[str], None]) -> None:
        from nautlive.venues.ibkr.config import ibkr_settings

        self.profile, self.interval, self.say = profile, interval, say
        self.bar_size = bar_size_for(interval)
        self.chunk_ms = CHUNK_DAYS[interval] * DAY
        self.bar_ms = INTERVALS[interval]
        self.ib = ibkr_settings(profile)
        self.where = f"IB Gateway at {self.ib.host}:{self.ib.port}"
        self.timeout = profile.live.connect_timeout
        self.gateway: GatewayClient | None = None
        self.contracts: dict[str, object] = {}
        self.sent: deque[float] = deque(maxlen=PACING_LIMIT)
        self.next_id = 1

    async def start(self, symbols: list[str]) -> None:
        await asyncio.to_thread(self._connect)
        for symbol in symbols:
            self.contracts[symbol] = await asyncio.to_thread(self._contract, symbol)

    def pieces(self, start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
        return [Piece("ib", a, b) for a, b in chunks(start_ms, end_ms, self.chunk_ms)]

    async def fetch(self, symbol: str, piece: Piece) -> tuple[list[Piece], str, list[Row]]:
        for attempt in range(PACING_RETRIES + 1):
            await self._keep_pace()
            try:
                rows = await asyncio.to_thread(self._bars, symbol, piece)
            except PacingViolation:
                wait = violation_wait(attempt)
                self.say(f"{self.where}: historical data pacing violation (error 162): waiting {wait:g} s")
                await asyncio.sleep(wait)
                continue
            return [], "IB", [r for r in rows if piece.start_ms <= r[0] < piece.end_ms]
        raise RuntimeFailure(f"{self.where}: {symbol} {piece.label}: still a pacing violation after "
                             f"{PACING_RETRIES} waits")

    def describe(self, added: dict[str, int]) -> str:
        return f"{added.get('IB', 0)} new from {self.where}"

    async def close(self) -> None:
        """Hang up (at once, also on Ctrl-C): a request still waiting on the worker thread ends with the socket."""
        if self.gateway is not None:
            self.gateway.__exit__()
            self.gateway = None

    # -- on ibapi's side (a worker thread) ---------------------------------------------------------------------------

    def _connect(self) -> None:
        check_gateway_reachable(self.ib.host, self.ib.port, self.timeout)
        gateway = GatewayClient(self.ib.host, self.ib.port, self.ib.client_id + HISTORY_CLIENT_OFFSET, self.timeout,
                                _history_callbacks())
        self.gateway = gateway.__enter__()

    def _ask(self, send: Callable[[int], None]) -> _Answer:
        assert self.gateway is not None, "start() first"
        callbacks: HistoryCallbacks = self.gateway.callbacks  # type: ignore[assignment]
        req_id, self.next_id = self.next_id, self.next_id + 1
        answer = callbacks.expect(req_id)
        self.gateway.check()
        try:
            send(req_id)
        except Exception as exc:  # noqa: BLE001 - ibapi fails oddly on a socket that closed between two requests
            self.gateway.check()
            raise RuntimeFailure(f"{self.where}: the connection is gone ({exc})") from None
        finished = answer.done.wait(REQUEST_TIMEOUT)
        callbacks.answers.pop(req_id, None)
        self.gateway.check()
        if not finished:
            raise RuntimeFailure(f"{self.where}: no answer within {REQUEST_TIMEOUT:g} s")
        return answer

    def _contract(self, symbol: str):  # noqa: ANN202 - ibapi Contract
        query = contract_query(self.profile, symbol)
        answer = self._ask(lambda req_id: self.gateway.client.reqContractDetails(req_id, query))
        if answer.error is not None and answer.error[0] == NO_DEFINITION:
            raise ConfigError(f"unknown symbol {symbol}: {self.where} says {answer.error[1]!r} (error 200)")
        if answer.error is not None or not answer.contracts:
            code, text = answer.error or (0, "no contract details")
            raise RuntimeFailure(f"{self.where}: contract details of {symbol}: error {code}: {text}")
        return answer.contracts[0]

    def _bars(self, symbol: str, piece: Piece) -> list[Row]:
        contract = self.contracts[symbol]
        what = "MIDPOINT" if contract.secType == "CASH" else "TRADES"  # type: ignore[attr-defined]
        self.sent.append(time.monotonic())
        answer = self._ask(lambda req_id: self.gateway.client.reqHistoricalData(
            req_id, contract, end_text(piece.end_ms), duration_text(piece.end_ms - piece.start_ms, self.bar_ms),
            self.bar_size, what, 0, 2, False, []))
        if answer.error is None:
            return answer.rows
        code, text = answer.error
        if code == HMDS_ERROR and "pacing violation" in text.lower():
            raise PacingViolation(text)
        if code == HMDS_ERROR and "returned no data" in text.lower():
            return []
        raise RuntimeFailure(f"{self.where}: {symbol} {piece.label}: error {code}: {text}")

    async def _keep_pace(self) -> None:
        wait = pacing_wait(self.sent, time.monotonic())
        if wait > 0:
            self.say(f"{self.where}: {PACING_LIMIT} historical data requests in {PACING_WINDOW / 60:g} minutes "
                     f"(IB's pacing): waiting {wait:.0f} s")
            await asyncio.sleep(wait)
