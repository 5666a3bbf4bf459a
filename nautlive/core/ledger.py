"""What an account traded lately, from the drift log: trade ids already logged and the budgets over time.

The drift log is the memory that survives restarts and cron runs: the daily turnover and hourly order budgets count
from it, so a restart does not reset them. Only the tail is read (backwards, until a line older than the window).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec

DAY = dt.timedelta(hours=24)
HOUR = dt.timedelta(hours=1)
_CHUNK = 1 << 20


class LoggedFill(msgspec.Struct):
    """The fields of a drift-log line the ledger needs; other fields are ignored."""

    ts: str
    mode: str
    venue: str
    notional: str
    client_order_id: str
    trade_id: str | None = None


_DECODER = msgspec.json.Decoder(LoggedFill)


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def tail_fills(path: str | Path | None, since: dt.datetime, venue: str, mode: str) -> list[LoggedFill]:
    """This venue's and mode's fills logged at or after `since`, oldest first. Bad lines (a crash) are skipped."""
    if path is None or not Path(path).is_file():
        return []
    found: list[LoggedFill] = []
    for line in _lines_backwards(Path(path)):
        try:
            fill = _DECODER.decode(line)
            when = parse_ts(fill.ts)
        except (msgspec.DecodeError, ValueError):
            continue
        if when < since:
            break
        if fill.venue == venue and fill.mode == mode:
            found.append(fill)
    found.reverse()
    return found


def _lines_backwards(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        end = file.seek(0, 2)
        rest = b""
        while end > 0:
            start = max(0, end - _CHUNK)
            file.seek(start)
            block = file.read(end - start) + rest
            end = start
            lines = block.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            for line in reversed(lines):
                if line.strip():
                    yield line
            if start == 0 and rest.strip():
                yield rest


class Budget(msgspec.Struct, frozen=True):
    """Limits over time: traded notional per rolling 24 h and orders per rolling hour."""

    max_turnover_per_day: Decimal
    max_orders_per_hour: int


class Ledger:
    """Traded notional and orders sent in the rolling windows, from the log's tail plus this session's activity."""

    def __init__(self, fills: list[LoggedFill]) -> None:
        self._fills: list[tuple[dt.datetime, Decimal]] = [(parse_ts(f.ts), Decimal(f.notional)) for f in fills]
        first_fill: dict[str, dt.datetime] = {}
        for fill in fills:
            first_fill.setdefault(fill.client_order_id, parse_ts(fill.ts))
        self._orders: list[dt.datetime] = list(first_fill.values())  # one time per order sent

    def add_fill(self, when: dt.datetime, notional: Decimal) -> None:
        self._fills.append((when, notional))

    def add_orders(self, count: int, when: dt.datetime) -> None:
        self._orders.extend([when] * count)

    def turnover(self, now: dt.datetime) -> Decimal:
        return sum((n for when, n in self._fills if when > now - DAY), Decimal(0))

    def orders(self, now: dt.datetime) -> int:
        return sum(1 for when in self._orders if when > now - HOUR)

    def refusal(self, budget: Budget, notional: Decimal, orders: int, now: dt.datetime, quote: str) -> str | None:
        """Why a plan of `orders` orders trading `notional` would overrun a budget, or None when it fits."""
        traded, sent = self.turnover(now), self.orders(now)
        if traded + notional > budget.max_turnover_per_day:
            return (f"daily turnover budget: {traded:,.2f} {quote} traded in the last 24 h, this rebalance needs "
                    f"{notional:,.2f} more, risk.max_turnover_per_day is {budget.max_turnover_per_day:,.2f}")
        if sent + orders > budget.max_orders_per_hour:
            return (f"hourly order budget: {sent} orders in the last hour, this rebalance needs {orders} more, "
                    f"risk.max_orders_per_hour is {budget.max_orders_per_hour}")
        return None
