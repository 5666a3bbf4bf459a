"""#30: what an IB session prints of Nautilus's adapter. IB's farm notices (2104/2106/2158 at every connect) log at
INFO, not as [WARN] lines, while 1100 (connectivity lost) stays an ERROR and 1102 a WARNING; executions of orders the
session does not hold are one readable line each, once: INFO for an earlier session's, WARNING for a trade nautlive
did not place. Against the loopback TWS venue through Nautilus's real IB adapter (nautlive/venues/ibkr/log_codes.py).
"""

from __future__ import annotations

import json
import re

import pytest

from nautlive.venues.ibkr import log_codes as codes
from tests import test_ibkr_live as base
from tests.test_ibkr_live import (
    TARGETS,
    control,
    drop_after_the_first_rebalance,
    live,
    placed,
    start_live_for_a_minute,
    state,
    wait_for,
)

tws, ib_dir = base.tws, base.ib_dir  # the venue at 223 and at 176, and a session folder pointed at it

FARM_CODES = (2104, 2106, 2158)  # what the venue (and IB Gateway) sends at every connect
FOREIGN = "that nautlive did not place"
EARLIER = "of an earlier session's order"


# -- the adapter methods the adjustments wrap: a Nautilus that reshapes them fails here ---------------------------


def test_the_adapter_still_has_the_methods_the_adjustments_wrap():
    from nautilus_trader.adapters.interactive_brokers.client.error import InteractiveBrokersClientErrorMixin
    from nautilus_trader.adapters.interactive_brokers.execution import InteractiveBrokersExecutionClient

    assert codes.has_method(InteractiveBrokersClientErrorMixin, "_log_message", codes.LOG_MESSAGE_PARAMETERS), \
        "Nautilus's IB client no longer has _log_message(error_code, req_id, error_string, is_warning)"
    assert codes.has_method(InteractiveBrokersExecutionClient, "_on_exec_details", codes.EXEC_DETAILS_PARAMETERS), \
        "Nautilus's IB exec client no longer has _on_exec_details(order_ref, execution, commission_report, contract)"
    assert callable(InteractiveBrokersExecutionClient._find_order_for_execution)  # noqa: SLF001
    assert codes.adjust_ib_logging() is True and codes.adjust_ib_logging() is True  # applied, and idempotent
    wrapped = InteractiveBrokersClientErrorMixin._log_message  # noqa: SLF001
    assert wrapped.nautlive_wrapped.__qualname__ == "InteractiveBrokersClientErrorMixin._log_message"
    wrapped = InteractiveBrokersExecutionClient._on_exec_details  # noqa: SLF001
    assert wrapped.nautlive_wrapped.__qualname__ == "InteractiveBrokersExecutionClient._on_exec_details"


def test_only_farm_notices_are_lowered():
    from nautilus_trader.adapters.interactive_brokers.client.error import InteractiveBrokersClientErrorMixin as Mixin

    assert all(codes.is_farm_notice(c) for c in (2104, 2106, 2107, 2108, 2119, 2158))
    kept = (1100, 1101, 1102, 1300, 2103, 2105, 2110, 2157, 200, 201, 202, 10147, 10182)
    assert not any(codes.is_farm_notice(c) for c in kept)
    assert not codes.FARM_NOTICES & (Mixin.CONNECTIVITY_LOST_CODES | Mixin.CLIENT_ERRORS | Mixin.ORDER_REJECTION_CODES)


def test_an_execution_line_says_whose_order_it_was():
    level, line = codes.execution_line("0000e1.01", "BOT", 44, "SPY", 449.78, 106, 1, "O-20261207-085735-NLV-000-1")
    assert level == "INFO" and line.startswith("execution 0000e1.01 of an earlier session's order "
                                               "O-20261207-085735-NLV-000-1 (BUY 44 SPY @ 449.78)")
    level, line = codes.execution_line("0000e2.01", "SLD", 3, "AAPL", 190.2, 109, 7, "")
    assert level == "WARNING" and line == ("execution 0000e2.01 that nautlive did not place: SELL 3 AAPL @ 190.2 "
                                           "(order 109 of API client 7, no order ref); it is not in the drift log")
    assert "ref theirs" in codes.execution_line("x", "BOT", 1, "AAPL", 1.0, 5, 7, "theirs")[1]


# -- sessions against the TWS venue -------------------------------------------------------------------------------


def levels(stderr: str, pattern: str) -> list[str]:
    """The Nautilus log level ([WARN], [INFO], ...) of every stderr line matching `pattern`."""
    return [m.group(1) for line in stderr.splitlines() if re.search(pattern, line)
            for m in [re.search(r"\[(\w+)\]", line)] if m]


def farm_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r"code: (2104|2106|2158)\b", line)]


@pytest.mark.slow
def test_a_rerun_prints_no_farm_warning_and_one_line_for_a_trade_nautlive_did_not_place(ib_dir, tws):
    first = live(ib_dir, "--once")
    assert first.returncode == 0 and len(state(tws)["executions"]) == 2, first.stderr[-3000:]
    assert farm_lines(first.stderr) == []
    control(tws, "POST", "/__sim/order?client_id=7&symbol=AAPL&side=BUY&quantity=3")  # a MKT order of client 7: fills
    assert len(state(tws)["executions"]) == 3

    again = live(ib_dir, "--once")  # the gateway reports all three executions, twice (reconciliation, recovery)
    assert again.returncode == 0, again.stderr[-3000:]
    assert farm_lines(again.stderr) == [] and "not found in Cache" not in again.stderr and "{'" not in again.stderr
    foreign = [line for line in again.stderr.splitlines() if FOREIGN in line]
    assert len(foreign) == 1 and "[WARN]" in foreign[0], again.stderr[-3000:]
    assert "BUY 3 AAPL @ " in foreign[0] and "of API client 7, no order ref" in foreign[0]
    assert EARLIER not in again.stderr  # at the default level (WARNING)

    verbose = live(ib_dir, "--once", "--log-level", "INFO")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert sorted(levels(verbose.stderr, r"code: (2104|2106|2158)\b")) == ["INFO"] * 3
    assert levels(verbose.stderr, EARLIER) == ["INFO", "INFO"] and levels(verbose.stderr, FOREIGN) == ["WARN"]
    assert len(placed(tws)) == 2


@pytest.mark.slow
def test_connectivity_lost_stays_loud_when_farm_notices_are_quiet(ib_dir, tws):
    """The venue drops the session (1100 to it, the socket closed); the adapter reconnects and hears 1102."""
    proc = start_live_for_a_minute(ib_dir)
    try:
        drop_after_the_first_rebalance(tws)
        wait_for(lambda: "code: 1102" in (ib_dir / "stderr.txt").read_text(), 15, "1102 logged")
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    stderr = (ib_dir / "stderr.txt").read_text()
    assert proc.returncode == 0, stderr[-3000:]
    assert farm_lines(stderr) == []  # the farm notices of both connections, at INFO: not shown at WARNING
    assert levels(stderr, r"code: 1100\b") == ["ERROR"], stderr[-3000:]  # the adapter's level for it, kept
    assert levels(stderr, r"code: 1102\b") == ["WARN"]
    assert len(json.loads(out)["fills"]) == 2 and set(TARGETS) == {f["instrument"] for f in json.loads(out)["fills"]}

