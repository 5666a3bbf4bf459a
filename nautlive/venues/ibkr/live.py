"""LIVE on Interactive Brokers keeps the fills it missed: executions of nautlive's orders that happened while no
session was listening (a crash, a kill -9, a dropped gateway) are read back through the adapter's own fill reports
(IB's reqExecutions, execution ids as trade ids) and appended to the drift log once, marked recovered.
"""

from __future__ import annotations

import datetime as dt
import time

from nautlive.core.drift import DriftMonitor, SubmitSnapshot, fee_in_quote
from nautlive.core.identity import is_own_order


async def recover_fills(exec_client, instruments: list[str], drift: DriftMonitor, since: dt.datetime,  # noqa: ANN001
                        quote: str) -> int:
    """Log the executions of our orders since `since` that the log misses; the number logged."""
    from nautilus_trader.core.uuid import UUID4
    from nautilus_trader.execution.messages import GenerateFillReports
    from nautilus_trader.model.enums import order_side_to_str

    command = GenerateFillReports(instrument_id=None, venue_order_id=None, start=since, end=None, command_id=UUID4(),
                                  ts_init=time.time_ns())
    count = 0
    for report in await exec_client.generate_fill_reports(command):
        client_order_id = str(report.client_order_id) if report.client_order_id is not None else ""
        if not is_own_order(client_order_id) or str(report.instrument_id) not in instruments:
            continue
        price = report.last_px.as_decimal()
        fee = fee_in_quote(report.commission.as_decimal(), report.commission.currency.code, price, None, quote)
        snapshot = SubmitSnapshot(instrument=str(report.instrument_id), side=order_side_to_str(report.order_side),
                                  mid=None, last_tick_px=None, target_hash="")
        if drift.on_fill(client_order_id, report.last_qty.as_decimal(), price, report.ts_event, fee,
                         trade_id=str(report.trade_id), recovered=True, snapshot=snapshot) is not None:
            count += 1
    return count
