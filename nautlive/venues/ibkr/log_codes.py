"""What Nautilus's IB adapter logs, at the level it deserves (#30): two runtime adjustments to nautilus_trader 1.231.

1. **Farm notices at INFO.** IB sends its system notices through the same `error` callback as its errors, and the
   adapter logs every code from 2100 to 2199 as a warning (client/error.py, `_log_message`), so every session starts
   with `[WARN] ... Market data farm connection is OK (code: 2104, ...)`. Nautilus has no setting for it: its log
   filter (`log_component_levels`) works per component, and filtering the IB client's component would also hide
   1100 (connectivity lost). `FARM_NOTICES` are the codes IB documents as a data farm connection being fine or idle
   (https://interactivebrokers.github.io/tws-api/message_codes.html): logged at INFO here. Every other code keeps the
   adapter's level: 1100 and 2110 (connectivity lost) ERROR, 1101/1102 (restored) WARNING, 2103/2105/2157 (a farm
   connection broken) WARNING, order rejections ERROR.
2. **Executions of orders the session does not hold, once each, in one line.** The gateway reports the day's
   executions whenever a client asks (reqExecutions: the node's reconciliation at start, nautlive's fill recovery),
   and the adapter hands each to its execDetails handler. Nautilus 1.22x logged each whose order was not in the
   cache as `[WARN] ClientOrderId not found in Cache, execution={...raw dict...}` (so a re-run printed one per
   execution of an earlier session per request); 1.231 logs them at DEBUG only, which hides a trade nautlive did not
   place as well. Here each such execution is said once per process: at INFO when the order is nautlive's own (an
   earlier session's; its fill is in the drift log, recovered at start if it was missing), at WARNING when it is
   not (a trade by hand in TWS, another API client): the account changed behind nautlive's back.

Each adjustment wraps one adapter method, handles its narrow case and hands everything on to the method it wrapped.
A future Nautilus may rename or reshape those methods: `adjust_ib_logging` then leaves the adapter as it is (the
session runs, only louder), and tests/test_ibkr_log_codes.py fails loudly until this module follows.
"""

from __future__ import annotations

import inspect

from nautlive.core.identity import is_own_order

# IB's message codes for a data farm connection that is fine or idle (nothing to act on).
FARM_NOTICES = frozenset({
    2104,  # Market data farm connection is OK
    2106,  # A historical (HMDS) data farm is connected
    2107,  # A historical data farm connection has become inactive but should be available upon demand
    2108,  # A market data farm connection has become inactive but should be available upon demand
    2119,  # Market data farm is connecting
    2158,  # Sec-def data farm connection is OK
})
# What the wrapped methods are called with in 1.231: a different signature means a different method.
LOG_MESSAGE_PARAMETERS = ("self", "error_code", "req_id", "error_string", "is_warning")
EXEC_DETAILS_PARAMETERS = ("self", "order_ref", "execution", "commission_report", "contract")
_said: set[str] = set()  # execution ids already said in this process


def is_farm_notice(code: int) -> bool:
    return code in FARM_NOTICES


def execution_line(exec_id: str, side: str, shares: object, symbol: str, price: float, order_id: int,
                   client_id: int, order_ref: str) -> tuple[str, str]:
    """(level, line) for an execution whose order the session does not hold: INFO for nautlive's own order (an
    earlier session's), WARNING for one nautlive did not place."""
    action = {"BOT": "BUY", "SLD": "SELL"}.get(side, side)
    trade = f"{action} {shares} {symbol} @ {price:g}"
    if is_own_order(order_ref):
        return "INFO", (f"execution {exec_id} of an earlier session's order {order_ref} ({trade}): not in this "
                        "session's cache; its fill is in the drift log (recovered at start if it was missing)")
    ref = f"ref {order_ref}" if order_ref else "no order ref"
    return "WARNING", (f"execution {exec_id} that nautlive did not place: {trade} (order {order_id} of API client "
                       f"{client_id}, {ref}); it is not in the drift log")


def adjust_ib_logging() -> bool:
    """Apply both adjustments to the adapter's classes (idempotent); False, changing nothing, when this Nautilus
    does not have the methods they wrap as 1.231 has them."""
    try:
        from nautilus_trader.adapters.interactive_brokers.client.common import get_venue_order_id
        from nautilus_trader.adapters.interactive_brokers.client.error import InteractiveBrokersClientErrorMixin
        from nautilus_trader.adapters.interactive_brokers.execution import InteractiveBrokersExecutionClient
    except ImportError:
        return False
    if not (has_method(InteractiveBrokersClientErrorMixin, "_log_message", LOG_MESSAGE_PARAMETERS)
            and has_method(InteractiveBrokersExecutionClient, "_on_exec_details", EXEC_DETAILS_PARAMETERS)
            and hasattr(InteractiveBrokersExecutionClient, "_find_order_for_execution")):
        return False
    _log_farm_notices_at_info(InteractiveBrokersClientErrorMixin)
    _say_unknown_executions_once(InteractiveBrokersExecutionClient, get_venue_order_id)
    return True


def has_method(cls: type, name: str, parameters: tuple[str, ...]) -> bool:
    """Whether cls.name is a method with these parameters (already adjusted or not)."""
    method = getattr(cls, name, None)
    method = getattr(method, "nautlive_wrapped", method)
    return callable(method) and tuple(inspect.signature(method).parameters) == parameters


def _log_farm_notices_at_info(mixin: type) -> None:
    original = mixin._log_message  # noqa: SLF001 - the adapter's method this wraps
    if getattr(original, "nautlive_wrapped", None):
        return

    async def _log_message(self, error_code, req_id, error_string, is_warning):  # noqa: ANN001, ANN202
        if is_farm_notice(error_code):
            self._log.info(f"{error_string} (code: {error_code}, {req_id=})")  # the adapter's own wording
            return
        await original(self, error_code, req_id, error_string, is_warning)

    _log_message.nautlive_wrapped = original
    mixin._log_message = _log_message  # noqa: SLF001


def _say_unknown_executions_once(client: type, get_venue_order_id) -> None:  # noqa: ANN001
    from nautilus_trader.model.identifiers import ClientOrderId

    original = client._on_exec_details  # noqa: SLF001 - the adapter's method this wraps
    if getattr(original, "nautlive_wrapped", None):
        return

    def _on_exec_details(self, order_ref, execution, commission_report, contract):  # noqa: ANN001, ANN202
        known = self._find_order_for_execution(ClientOrderId(order_ref) if order_ref else None,
                                               get_venue_order_id(execution.orderId, execution.permId))
        if known is None and execution.execId not in _said:
            _said.add(execution.execId)
            level, line = execution_line(execution.execId, execution.side, execution.shares,
                                         getattr(contract, "localSymbol", "") or getattr(contract, "symbol", "?"),
                                         execution.price, execution.orderId, execution.clientId, order_ref)
            (self._log.info if level == "INFO" else self._log.warning)(line)
        return original(self, order_ref, execution, commission_report, contract)

    _on_exec_details.nautlive_wrapped = original
    client._on_exec_details = _on_exec_details  # noqa: SLF001
