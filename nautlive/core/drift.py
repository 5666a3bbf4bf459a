"""DriftMonitor: every fill against the market mid at submit, one JSON line per fill, alerts when it strays.

drift_bps is signed so that positive is a cost: BUY (fill - mid) / mid x 1e4, SELL (mid - fill) / mid x 1e4.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO

import msgspec


class Fee(msgspec.Struct, frozen=True):
    """A commission as the venue charged it, and its value in the quote currency."""

    amount: Decimal
    currency: str
    in_quote: Decimal | None


def fee_in_quote(amount: Decimal, currency: str, fill_px: Decimal, base: str | None, quote: str) -> Fee:
    """Binance takes a BUY's fee in the base asset and a SELL's in the quote: value both in the quote currency."""
    if currency == quote:
        return Fee(amount, currency, amount)
    if currency == base:
        return Fee(amount, currency, amount * fill_px)
    return Fee(amount, currency, None)  # a third asset (BNB discounts): no price to value it at here


class SubmitSnapshot(msgspec.Struct, frozen=True):
    """The market as the strategy saw it when it sent an order."""

    instrument: str
    side: str
    mid: Decimal | None
    last_tick_px: Decimal | None
    target_hash: str
    bid: Decimal | None = None  # the touch at submit: mid -> touch is the spread paid, touch -> fill the impact
    ask: Decimal | None = None
    parent_order_id: str | None = None  # the parent order (twap, passive_then_market) or the order itself
    style: str | None = None  # the execution style it went out under
    arrival_mid: Decimal | None = None  # the mid when its parent started (the shortfall's reference)
    parent_qty: Decimal | None = None  # what the parent was to trade (the fill ratio's denominator)
    parent_start_ns: int | None = None  # when the parent started (the time to complete)


class DriftRecord(msgspec.Struct, frozen=True):
    """One line of the drift log (DESIGN.md)."""

    ts: str
    session: str
    mode: str
    venue: str
    instrument: str
    side: str
    qty: str
    fill_px: str
    mid_at_submit: str | None
    last_tick_px: str | None
    drift_bps: float | None
    notional: str
    client_order_id: str
    target_hash: str
    alert: bool
    fee: str | None = None
    fee_currency: str | None = None
    fee_quote: str | None = None  # the fee in the quote currency at the fill price: what drift-report adds up
    trade_id: str | None = None  # the venue's execution id: a fill seen twice (stream, REST, reconnect) is logged once
    recovered: bool = False  # found in the venue's trades at startup, missing from the log (a crash, a late fill)
    bid_at_submit: str | None = None  # the quote's bid and ask at submit (the spread part of the drift)
    ask_at_submit: str | None = None
    # Issue #31, additive (older logs have none): the parent order, the execution style, the mid at the parent's start.
    parent_order_id: str | None = None
    style: str | None = None
    arrival_mid: str | None = None
    parent_qty: str | None = None
    parent_ts: str | None = None


def drift_bps(side: str, fill_px: Decimal, mid: Decimal | None) -> Decimal | None:
    if mid is None or mid == 0:
        return None
    signed = (fill_px - mid) if side == "BUY" else (mid - fill_px)
    return signed / mid * Decimal(10_000)


class DriftMonitor:
    """Records the mid and last trade at submit; on each fill appends and flushes one line, counting alerts.

    A line the log cannot take (a full disk, a folder gone read-only) is kept in memory and printed on stderr, the
    log is tried again on every later fill and at the end (`retry`), and `on_write_error(reason)` is called once, so
    the session stops new orders; without that callback the error is raised, as it always was.
    """

    def __init__(self, path: str | Path | None, session: str, mode: str, venue: str, alert_bps: Decimal, log=None):
        self.path = Path(path) if path else None
        self.session, self.mode, self.venue = session, mode, venue
        self.alert_bps = Decimal(alert_bps)
        self.records: list[DriftRecord] = []
        self.alerts = 0
        self._pending: dict[str, SubmitSnapshot] = {}
        self.seen_trade_ids: set[str] = set()
        self.log = log
        self._file: IO[bytes] | None = None
        self._encoder = msgspec.json.Encoder()
        self.unwritten: list[DriftRecord] = []  # fills the log could not take yet (in memory, and said on stderr)
        self.write_error: str | None = None  # why the log could not be written, first failure
        self.on_write_error: Callable[[str], None] | None = None
        self._said: set[int] = set()  # id() of the unwritten records already printed on stderr

    def on_submit(self, client_order_id: str, snapshot: SubmitSnapshot) -> None:
        self._pending[client_order_id] = snapshot

    def has_snapshot(self, client_order_id: str) -> bool:
        return client_order_id in self._pending

    def on_fill(
        self,
        client_order_id: str,
        qty: Decimal,
        fill_px: Decimal,
        ts_ns: int,
        fee: Fee | None = None,
        trade_id: str | None = None,
        recovered: bool = False,
        snapshot: SubmitSnapshot | None = None,
    ) -> DriftRecord | None:
        """Log one fill; None when its trade id was logged already (the same fill seen twice)."""
        if trade_id is not None:
            if trade_id in self.seen_trade_ids:
                return None
            self.seen_trade_ids.add(trade_id)
        snap = snapshot or self._pending.get(client_order_id)
        side = snap.side if snap else "?"
        bps = drift_bps(side, fill_px, snap.mid if snap else None)
        alert = bps is not None and abs(bps) > self.alert_bps
        record = DriftRecord(
            ts=_iso(ts_ns),
            session=self.session,
            mode=self.mode,
            venue=self.venue,
            instrument=snap.instrument if snap else "?",
            side=side,
            qty=_text(qty),
            fill_px=_text(fill_px),
            mid_at_submit=_text(snap.mid) if snap and snap.mid is not None else None,
            last_tick_px=_text(snap.last_tick_px) if snap and snap.last_tick_px is not None else None,
            drift_bps=round(float(bps), 4) if bps is not None else None,
            notional=_text(qty * fill_px),
            client_order_id=client_order_id,
            target_hash=snap.target_hash if snap else "",
            alert=alert,
            fee=_text(fee.amount) if fee is not None else None,
            fee_currency=fee.currency if fee is not None else None,
            fee_quote=_text(fee.in_quote) if fee is not None and fee.in_quote is not None else None,
            trade_id=trade_id,
            recovered=recovered,
            bid_at_submit=_text(snap.bid) if snap and snap.bid is not None else None,
            ask_at_submit=_text(snap.ask) if snap and snap.ask is not None else None,
            parent_order_id=snap.parent_order_id if snap else None,
            style=snap.style if snap else None,
            arrival_mid=_text(snap.arrival_mid) if snap and snap.arrival_mid is not None else None,
            parent_qty=_text(snap.parent_qty) if snap and snap.parent_qty is not None else None,
            parent_ts=_iso(snap.parent_start_ns) if snap and snap.parent_start_ns else None,
        )
        self.records.append(record)
        self._write(record)
        if alert:
            self.alerts += 1
            if self.log is not None:
                self.log.warning(
                    f"DRIFT ALERT {record.instrument} {side} {record.qty} @ {record.fill_px}: "
                    f"{record.drift_bps:+.2f} bps vs mid {record.mid_at_submit} (threshold {self.alert_bps} bps)"
                )
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def retry(self) -> bool:
        """Write what the log could not take before; True when nothing is left unwritten."""
        if self.unwritten:
            self._flush()
        return not self.unwritten

    def missing(self) -> str:
        """After a write failed: what the log lacks (for the session's result)."""
        if not self.unwritten:
            return "the fills were written on a later try"
        return (f"{len(self.unwritten)} fill(s) missing from it (printed on stderr above; the next run recovers them "
                "from the venue)")

    def _write(self, record: DriftRecord) -> None:
        if self.path is None:
            return
        self.unwritten.append(record)
        self._flush()

    def _flush(self) -> None:
        """Append every unwritten line; on failure keep them, say the new ones on stderr, and report (once)."""
        try:
            if self._file is None:
                self._file = _open_for_append(self.path)
            while self.unwritten:
                _write_all(self._file, self._encoder.encode(self.unwritten[0]) + b"\n")
                self.unwritten.pop(0)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        from nautlive.core.writable import os_problem

        if self._file is not None:  # a line cut short stays a bad line of its own: the next open ends it
            self._file.close()
            self._file = None
        if self.on_write_error is None:
            raise exc
        first = self.write_error is None
        if first:
            self.write_error = f"{self.path}: {os_problem(exc)}"
        for record in self.unwritten:
            if id(record) not in self._said:
                self._said.add(id(record))
                print(f"fill not written to the drift log {self.write_error}, kept: "
                      f"{self._encoder.encode(record).decode()}", file=sys.stderr, flush=True)
        if first:
            self.on_write_error(f"drift log {self.write_error}: new orders stopped")


def _open_for_append(path: Path) -> IO[bytes]:
    """Open the log for appending. A last line cut short by a crash is ended first, so that it stays one bad line
    on its own instead of swallowing this session's first fill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    file = path.open("a+b", buffering=0)  # unbuffered: a failed write leaves nothing behind to be written twice
    if file.seek(0, 2) > 0:
        file.seek(-1, 2)
        if file.read(1) != b"\n":
            _write_all(file, b"\n")
    return file


def _write_all(file: IO[bytes], data: bytes) -> None:
    """One line, all of it: a short write is continued (and its error raised)."""
    view = memoryview(data)
    while view:
        view = view[file.write(view):]


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
