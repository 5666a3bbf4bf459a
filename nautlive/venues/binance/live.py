"""LIVE on Binance keeps the venue's truth: the key's rights and logon before anything, the account before each
plan, open orders and missed fills at start, every order's fate at stop, and a user stream that is re-established
when it drops or goes quiet.

The user stream (a subscription on Binance's WebSocket API since the REST listen key was retired) is a cache: a
venue restart drops it, and a stalled venue answers late. So planning reads balances over REST, fills found over REST
are logged by trade id (once, whichever path saw them first), and a stop waits until the venue confirms each order
cancelled or filled. A stream that cannot be re-established (the venue refuses the logon) ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal

import msgspec

from nautlive.catalog.specs import InstrumentSpec
from nautlive.core.drift import DriftMonitor, SubmitSnapshot, fee_in_quote
from nautlive.core.identity import is_own_order
from nautlive.errors import ReconcileBlocked, RuntimeFailure, SafetyRefusal
from nautlive.venues.binance.rest import Balance, BinanceRest, VenueDown, VenueError, VenueOrder, VenueTrade
from nautlive.venues.binance.urls import endpoints
from nautlive.venues.binance.ws_api import check_logon

WITHDRAWAL_RISK = ("the API key can withdraw funds (enableWithdrawals): a leaked key or a bug could empty the account. "
                   "Create a key without withdrawals for nautlive, or set live.allow_withdrawal_keys: true to accept "
                   "the risk")


class StreamLost(RuntimeFailure):
    """The user stream is gone and the venue refused to open a new one."""


def symbol_of(instrument_id: str) -> str:
    return instrument_id.rsplit(".", 1)[0]


def describe_order(order: VenueOrder) -> str:
    price = f" @ {order.price.normalize():f}" if order.type != "MARKET" and order.price else ""
    return f"{order.clientOrderId} {order.side} {order.type} {order.origQty.normalize():f} {order.symbol}{price}"


class AccountStart(msgspec.Struct):
    """What the venue showed at start: orders of ours cancelled, foreign ones kept, fills recovered into the log."""

    cancelled_own: list[str] = []
    foreign_kept: list[str] = []
    foreign_cancelled: list[str] = []
    recovered: int = 0


async def check_key(rest: BinanceRest, profile, say: Callable[[str], None]) -> None:  # noqa: ANN001 - VenueProfile
    """The key's rights and the user stream's logon, before anything is traded.

    A key that can withdraw is a SafetyRefusal (exit 4) unless the profile accepts the risk; a key with no IP
    restriction is said. A venue that does not tell the rights, or refuses the WebSocket API logon, fails closed
    (exit 1, with the venue's reason).
    """
    try:
        rights = await rest.api_restrictions()
    except VenueError as exc:
        raise RuntimeFailure(f"cannot read the API key's rights (GET /sapi/v1/account/apiRestrictions): Binance "
                             f"error {exc.code}: {exc.msg}") from None
    if rights.enableWithdrawals and not profile.live.allow_withdrawal_keys:
        raise SafetyRefusal(WITHDRAWAL_RISK)
    if rights.enableWithdrawals:
        say("warning: the API key can withdraw funds (live.allow_withdrawal_keys: true accepts the risk)")
    if not rights.ipRestrict:
        say("warning: the API key is not restricted to trusted IP addresses: restrict it in Binance's API Management")
    settings = profile.binance
    url = endpoints(settings).ws_api
    try:
        await check_logon(url, settings.api_key or "", settings.api_secret or "", profile.live.connect_timeout)
    except VenueError as exc:
        raise RuntimeFailure(f"{url}: the venue refused the user stream: {exc} (is the Ed25519 public key of this "
                             "private key registered for this API key, with trading enabled?)") from None


async def prepare_account(rest: BinanceRest, instruments: list[str], open_orders_policy: str, drift: DriftMonitor,
                          since: dt.datetime, quote: str, say: Callable[[str], None]) -> AccountStart:
    """Before the node starts: cancel our leftover orders, apply the foreign-order policy, recover missed fills.

    Raises VenueDown when the venue does not answer and ReconcileBlocked (exit 3) on foreign orders under `fail`.
    """
    start = AccountStart()
    await rest.balances()  # the venue answers and the keys are good, before anything else
    for iid in instruments:
        try:
            await rest.exchange_info([symbol_of(iid)])
        except VenueError as exc:
            if exc.code == -1121:
                raise RuntimeFailure(f"the venue does not list {symbol_of(iid)}") from None
            raise
    foreign: list[VenueOrder] = []
    for iid in instruments:
        for order in await rest.open_orders(symbol_of(iid)):
            if is_own_order(order.clientOrderId):
                await rest.cancel(order.symbol, order.clientOrderId)
                start.cancelled_own.append(order.clientOrderId)
                say(f"cancelled {describe_order(order)}, left open by an earlier session")
            else:
                foreign.append(order)
    if foreign and open_orders_policy == "fail":
        names = "; ".join(describe_order(o) for o in foreign)
        raise ReconcileBlocked(f"open orders not placed by nautlive on the profile's instruments: {names}. Nothing "
                               "traded: cancel them, or set live.open_orders: cancel | keep in the profile")
    for order in foreign:
        if open_orders_policy == "cancel":
            await rest.cancel(order.symbol, order.clientOrderId)
            start.foreign_cancelled.append(order.clientOrderId)
            say(f"cancelled foreign order {describe_order(order)} (live.open_orders: cancel)")
        else:
            start.foreign_kept.append(order.clientOrderId)
            say(f"keeping foreign order {describe_order(order)}: its locked funds count in NAV and are not traded")
    start.recovered = await recover_fills(rest, instruments, drift, since, quote)
    if start.recovered:
        say(f"recovered {start.recovered} fill(s) of nautlive's orders missing from {drift.path} (recovered: true)")
    return start


async def recover_fills(rest: BinanceRest, instruments: list[str], drift: DriftMonitor, since: dt.datetime,
                        quote: str, only: set[str] | None = None) -> int:
    """Log the venue's trades of our orders (or of `only` these client order ids) the log does not have yet."""
    since_ms = int(since.timestamp() * 1000)
    count = 0
    for iid in instruments:
        symbol = symbol_of(iid)
        trades = await rest.trades(symbol, since_ms)
        if not trades:
            continue
        orders = {o.orderId: o for o in await rest.all_orders(symbol, min(t.time for t in trades) - 60_000)}
        for trade in trades:
            order = orders.get(trade.orderId)
            if order is None or not (is_own_order(order.clientOrderId) if only is None
                                     else order.clientOrderId in only):
                continue
            if log_trade(drift, iid, order, trade, quote, recovered=only is None) is not None:
                count += 1
    return count


def log_trade(drift: DriftMonitor, iid: str, order: VenueOrder, trade: VenueTrade, quote: str, recovered: bool):  # noqa: ANN201
    """One venue trade into the drift log (skipped when its trade id is there already)."""
    base = iid.split(".")[0].removesuffix(quote)
    fee = fee_in_quote(trade.commission, trade.commissionAsset, trade.price, base, quote)
    snapshot = None if drift.has_snapshot(order.clientOrderId) else SubmitSnapshot(
        instrument=iid, side=order.side, mid=None, last_tick_px=None, target_hash="")
    return drift.on_fill(order.clientOrderId, trade.qty, trade.price, trade.time * 1_000_000, fee,
                         trade_id=str(trade.id), recovered=recovered, snapshot=snapshot)


def balances_to_nautilus(balances: dict[str, Balance]) -> list:
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.objects import AccountBalance, Money

    result = []
    for b in balances.values():
        currency = Currency.from_str(b.asset, strict=False)
        result.append(AccountBalance(total=Money(b.total, currency), locked=Money(b.locked, currency),
                                     free=Money(b.free, currency)))
    return result


class LiveVenue:
    """The session's REST link to the account, used by LiveRebalanceStrategy and the session runner."""

    def __init__(self, rest: BinanceRest, exec_client, instruments: list[str], catalog: dict[str, InstrumentSpec],
                 quote: str, log) -> None:  # noqa: ANN001
        self.rest = rest
        self.exec_client = exec_client
        self.instruments = instruments
        self.catalog = catalog
        self.quote = quote
        self.log = log
        self.stream_reestablished = 0
        self.stream_lost = ""
        self._subscribed_once = False
        self._seen_recovery = None
        self._missing = 0
        self.down_since: float | None = None
        self._last_report = 0.0
        self.session_start = dt.datetime.now(dt.UTC)

    async def refresh(self, strategy) -> None:  # noqa: ANN001
        """Balances from REST into the engine's account; specs compared again; a stale user stream re-established."""
        from nautilus_trader.model.identifiers import Venue

        before = _balances_of(strategy.portfolio.account(Venue("BINANCE")))
        balances = await self.rest.balances()
        # Only a quiet account says something about the stream: fills of the last seconds may still be on their way.
        quiet = not (strategy.cache.orders_open(strategy_id=strategy.id)
                     or strategy.cache.orders_inflight(strategy_id=strategy.id)) and (
            time.time_ns() - strategy.last_order_event_ns > 5e9)
        self.exec_client.generate_account_state(balances=balances_to_nautilus(balances), margins=[], reported=True,
                                                ts_event=time.time_ns())
        stale = quiet and _differs(before, balances)
        if stale:
            await self.reestablish_stream(f"the venue's balances differ from the user stream's ({stale})")
        strategy.blocked = await self.blocked_instruments(strategy.blocked, strategy.config.reconcile_overrides)

    async def log_order_trades(self, client_order_id: str, instrument_id: str, drift: DriftMonitor) -> None:
        """Log the venue's trades of one order (by trade id, so nothing twice); retried once, then said."""
        for attempt in (1, 2):
            try:
                await recover_fills(self.rest, [instrument_id], drift, self.session_start - dt.timedelta(minutes=1),
                                    self.quote, only={client_order_id})
                return
            except (VenueDown, VenueError) as exc:
                if attempt == 2:
                    self.log.error(f"Could not read the venue's trades of {client_order_id}: {exc} (the next "
                                   "session recovers them)")
                await asyncio.sleep(1.0)

    async def blocked_instruments(self, known: dict[str, str], overrides: dict | None = None) -> dict[str, str]:
        """Compare the venue's current specs with the catalog: a BLOCKING mismatch stops that instrument."""
        from nautlive.catalog.reconcile import blocked_instruments, compare
        from nautlive.catalog.specs import ExecutionMetadataCatalog
        from nautlive.venues.binance.specs import specs_from_exchange_info

        body = await self.rest.exchange_info([symbol_of(i) for i in self.instruments])
        venue_specs = specs_from_exchange_info(body).specs
        result = compare(ExecutionMetadataCatalog(venue="BINANCE", instruments=list(self.catalog.values())),
                         venue_specs, overrides=overrides)
        blocked = blocked_instruments(result)
        for iid, reason in blocked.items():
            if iid not in known:
                self.log.error(f"{iid}: {reason}: not traded until the catalog is updated "
                               "(`nautlive reconcile --write-patch`)")
        return blocked

    async def reestablish_stream(self, why: str) -> None:
        """Log on to the WebSocket API again and subscribe, as the adapter's own connect does.

        A refusal is final: `stream_lost` says why (the watch then ends the session) and StreamLost is raised.
        """
        ws = self.exec_client._ws_client
        self.log.warning(f"User stream looks dead: {why}; logging on to the WebSocket API again")
        try:
            await ws.disconnect()
            await ws.connect()
            await ws.session_logon()
            await ws.subscribe_user_data_stream()
        except Exception as exc:  # noqa: BLE001 - whatever failed, the session has no user stream
            self.stream_lost = f"the venue refused a new logon: {exc}" if isinstance(exc, RuntimeError) else (
                f"could not reconnect: {type(exc).__name__}: {exc}")
            self.log.error(f"User stream lost: {self.stream_lost}")
            raise StreamLost(self.stream_lost) from None
        self.stream_reestablished += 1
        self.log.warning("User stream re-established with a new WS API session")

    async def watch(self, interval: float, report_every: float, give_up_after: float, stop: Callable[[int, str], None]):  # noqa: ANN201
        """Check the venue answers and the user stream lives; say when the venue stops answering; end the session
        after `give_up_after`, or as soon as the user stream is lost for good."""
        self._last_report = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.rest.balances()
            except VenueDown as exc:
                down_for = self._down(exc, report_every)
                if down_for >= give_up_after:
                    stop(1, f"venue not answering for {down_for:.0f} s (live.down_timeout): {exc}")
                    return
                continue
            except Exception as exc:  # noqa: BLE001 - whatever the venue answers, the watch goes on and says so
                self.log.error(f"Venue check failed: {type(exc).__name__}: {exc}")
                continue
            self._up()
            await self._check_stream()
            if self.stream_lost:
                stop(1, f"user stream lost: {self.stream_lost}; nautlive cannot see fills, so it stops")
                return

    async def _check_stream(self) -> None:
        """Notice the adapter re-subscribing by itself after a reconnect, and a stream it gave up on (or that has had
        no subscription for two checks): then log on and subscribe again, or end the session if the venue refuses."""
        ws = self.exec_client._ws_client
        recovery = ws._reconnect_task  # the adapter's re-logon after a reconnect (a new task each time)
        if recovery is not None and recovery is not self._seen_recovery and recovery.done() and ws.subscription_id:
            self._seen_recovery = recovery
            self.stream_reestablished += 1
            self.log.warning("User stream re-established by the adapter after a reconnect (new WS API session)")
        if ws.subscription_id is not None:
            self._subscribed_once, self._missing = True, 0
            return
        if not (self._subscribed_once or ws._is_recovery_failed):
            return  # never subscribed yet: the start-up deadline covers that
        self._missing += 1
        if ws._is_recovery_failed or self._missing >= 2:
            with contextlib.suppress(StreamLost):
                await self.reestablish_stream("the adapter has no user-stream subscription"
                                              + (" (its re-logon failed)" if ws._is_recovery_failed else ""))

    def connection_problem(self) -> str:
        """Why the exec client is not ready, for the start-up deadline's message."""
        ws = self.exec_client._ws_client
        if ws.subscription_id is None:
            return "the user stream (WebSocket API) is not subscribed; the adapter's error is in the log above"
        return ""

    def _down(self, exc: VenueDown, report_every: float) -> float:
        """Seconds the venue has not answered, said every `report_every`."""
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        down_for = now - self.down_since
        if now - self._last_report >= report_every:
            self._last_report = now
            self.log.error(f"Venue not answering for {down_for:.0f} s: {exc}")
        return down_for

    def _up(self) -> None:
        if self.down_since is not None:
            self.log.warning(f"Venue answering again after {time.monotonic() - self.down_since:.0f} s")
            self.down_since = None

    async def settle(self, orders: dict[str, str], drift: DriftMonitor, is_done: Callable[[str], bool],
                     timeout: float, session_start: dt.datetime) -> dict[str, str]:
        """Wait until the venue confirms each of `orders` (client order id -> instrument id) cancelled or filled.

        Asks over REST for orders the stream leaves open, cancels what is still working, logs their fills by trade
        id. Returns client order id -> fate ("filled", "cancelled", "unknown", ...).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        fates: dict[str, str] = {}
        while True:
            pending = [c for c in orders if c not in fates and not is_done(c)]
            if not pending or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
            for coid in pending:
                if is_done(coid):
                    continue
                try:
                    status = await self.rest.order(symbol_of(orders[coid]), coid)
                    if status is not None and not status.terminal:
                        await self.rest.cancel(status.symbol, coid)
                        status = await self.rest.order(status.symbol, coid)
                except (VenueDown, VenueError) as exc:
                    self.log.warning(f"Order {coid}: venue did not answer the status query ({exc})")
                    continue
                if status is not None and status.terminal:
                    fates[coid] = status.status.lower()
        filled = {c for c, fate in fates.items() if fate in ("filled", "canceled", "expired")}
        if filled:
            try:
                await recover_fills(self.rest, sorted({orders[c] for c in filled}), drift,
                                    session_start - dt.timedelta(minutes=1), self.quote, only=filled)
            except (VenueDown, VenueError) as exc:
                self.log.error(f"Could not read the venue's trades of stopped orders: {exc}")
        for coid in orders:
            if coid not in fates:
                fates[coid] = "done" if is_done(coid) else "unknown"
        return fates


def _balances_of(account) -> dict[str, Decimal]:  # noqa: ANN001
    if account is None:
        return {}
    return {c.code: m.as_decimal() for c, m in account.balances_total().items()}


def _differs(before: dict[str, Decimal], after: dict[str, Balance]) -> str:
    """A short description of the first balance the stream got wrong, or "" when they agree."""
    for asset in sorted(set(before) | {a for a, b in after.items() if b.total}):
        theirs = after[asset].total if asset in after else Decimal(0)
        ours = before.get(asset, Decimal(0))
        if abs(theirs - ours) > Decimal("1e-8"):
            return f"{asset} {ours.normalize():f} vs venue {theirs.normalize():f}"
    return ""
