"""Binance's bars for `data download` (the generic loop: nautlive.data.download): whole finished months and days
from the public data archive (verified zips), the rest from public REST klines (`plan` cuts a range so); a month the
archive lacks falls back to its days, a day to REST."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from nautlive.data.download import Piece
from nautlive.data.klines import DAY, Row
from nautlive.venues.binance.archive import RETRIES, Fetcher, day_path, month_path


def _month_end(ms: int) -> int:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def _is_month_start(ms: int) -> bool:
    return ms % DAY == 0 and datetime.fromtimestamp(ms / 1000, UTC).day == 1


def plan(start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
    """Pieces covering [start_ms, end_ms): finished whole months and days from the archive, the rest from REST."""
    pieces: list[Piece] = []
    cursor = start_ms
    while cursor < end_ms:
        if _is_month_start(cursor) and (stop := _month_end(cursor)) <= min(end_ms, now_ms):
            piece = Piece("month", cursor, stop)
        elif cursor % DAY == 0 and cursor + DAY <= min(end_ms, now_ms):
            piece = Piece("day", cursor, cursor + DAY)
        else:
            piece = Piece("rest", cursor, min(end_ms, (cursor // DAY + 1) * DAY))
        if piece.kind == "rest" and pieces and pieces[-1].kind == "rest":
            piece = Piece("rest", pieces.pop().start_ms, piece.end_ms)
        pieces.append(piece)
        cursor = piece.end_ms
    return pieces


class BinanceSource:
    """The archive at `archive_url` and REST at `rest_url`; `say` gets one line per wait (a 429/418, the weight)."""

    trades_in_sessions = False  # around the clock: a minute without bars is the venue's own gap, worth a warning

    def __init__(self, archive_url: str, rest_url: str, interval: str, say: Callable[[str], None]) -> None:
        self.archive_url, self.rest_url, self.interval, self.say = archive_url, rest_url, interval, say
        self.fetcher: Fetcher | None = None

    async def start(self, symbols: list[str]) -> None:
        """Ask REST for one bar of each symbol first (and the venue's weight limit): an unknown symbol or interval is
        one line and exit 2, an unreachable venue exit 1 at once, before any file is touched."""
        self.fetcher = Fetcher(self.archive_url, self.rest_url, self.say)
        self.fetcher.retries = 0
        for symbol in symbols:
            await self.fetcher.klines(symbol, self.interval, limit=1)
        await self.fetcher.learn_weight_limit(symbols[0])
        self.fetcher.retries = RETRIES

    def pieces(self, start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
        return plan(start_ms, end_ms, now_ms)

    async def fetch(self, symbol: str, piece: Piece) -> tuple[list[Piece], str, list[Row]]:
        assert self.fetcher is not None, "start() first"
        if piece.kind == "month":
            moment = datetime.fromtimestamp(piece.start_ms / 1000, UTC)
            rows = await self.fetcher.archive(month_path(symbol, self.interval, moment.year, moment.month))
            if rows is None:
                return [Piece("day", t, t + DAY) for t in range(piece.start_ms, piece.end_ms, DAY)], "", []
            return [], "archive", rows
        if piece.kind == "day":
            day = date(1970, 1, 1) + timedelta(milliseconds=piece.start_ms)
            rows = await self.fetcher.archive(day_path(symbol, self.interval, day))
            if rows is None:
                return [Piece("rest", piece.start_ms, piece.end_ms)], "", []
            return [], "archive", rows
        return [], "REST", await self.fetcher.rest(symbol, self.interval, piece.start_ms, piece.end_ms)

    def describe(self, added: dict[str, int]) -> str:
        return f"{added.get('archive', 0)} new from the archive, {added.get('REST', 0)} from REST"

    async def close(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.close()
