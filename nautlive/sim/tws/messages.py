"""Server -> client messages, field for field as `ibapi/decoder.py` (+ orderdecoder.py) reads them at a version.

Each function returns an `Out`: its IN id, its text fields at a given server version, and its protobuf body (ibapi's
generated classes, built in `protos`). `encode(out, version)` picks protobuf from the version at which IB Gateway
sends that message as protobuf (PROTO_SINCE: the version of the request group it answers), text below it. Messages
the decoder reads by the wrapper's signature (managedAccounts, nextValidId, accountSummary, the *End messages) are
`version, params...`; the others follow their `processXxx`. tests/test_tws_sim.py decodes every one of them with the
real ibapi Decoder at 176, 178, 200 and 223.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from ibapi import server_versions as sv
from ibapi.message import IN

from nautlive.sim.tws import protos as pb
from nautlive.sim.tws.protocol import UNSET_INT, proto_message, text_message
from nautlive.sim.tws.records import Execution, SimOrder, contract_value

UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
# The contract fields of position, openOrder and execDetails (no primaryExchange)
MSG_CONTRACT = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
                "exchange", "currency", "localSymbol", "tradingClass")
NEVER = 10**6

# From which server version IB Gateway sends a message as protobuf: the version of the request group it answers.
PROTO_SINCE = {
    **dict.fromkeys((IN.ERR_MSG, IN.EXECUTION_DATA, IN.EXECUTION_DATA_END, IN.COMMISSION_AND_FEES_REPORT),
                    sv.MIN_SERVER_VER_PROTOBUF),
    **dict.fromkeys((IN.OPEN_ORDER, IN.ORDER_STATUS), sv.MIN_SERVER_VER_PROTOBUF_PLACE_ORDER),
    **dict.fromkeys((IN.OPEN_ORDER_END, IN.COMPLETED_ORDER, IN.COMPLETED_ORDERS_END),
                    sv.MIN_SERVER_VER_PROTOBUF_COMPLETED_ORDER),
    **dict.fromkeys((IN.CONTRACT_DATA, IN.CONTRACT_DATA_END), sv.MIN_SERVER_VER_PROTOBUF_CONTRACT_DATA),
    **dict.fromkeys((IN.TICK_PRICE, IN.TICK_SIZE, IN.MARKET_DATA_TYPE, IN.TICK_REQ_PARAMS),
                    sv.MIN_SERVER_VER_PROTOBUF_MARKET_DATA),
    **dict.fromkeys((IN.MANAGED_ACCTS, IN.POSITION_DATA, IN.POSITION_END, IN.ACCOUNT_SUMMARY, IN.ACCOUNT_SUMMARY_END,
                     IN.ACCT_VALUE, IN.PORTFOLIO_VALUE, IN.ACCT_UPDATE_TIME, IN.ACCT_DOWNLOAD_END,
                     IN.ACCOUNT_UPDATE_MULTI, IN.ACCOUNT_UPDATE_MULTI_END),
                    sv.MIN_SERVER_VER_PROTOBUF_ACCOUNTS_POSITIONS),
    **dict.fromkeys((IN.TICK_BY_TICK, IN.HISTORICAL_DATA, IN.HISTORICAL_DATA_END),
                    sv.MIN_SERVER_VER_PROTOBUF_HISTORICAL_DATA),
    **dict.fromkeys((IN.NEXT_VALID_ID, IN.CURRENT_TIME), sv.MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3),
}


class Out(NamedTuple):
    msg_id: int
    text: Callable[[int], list]  # the fields after the id, at a server version
    proto: Callable[[], object] | None = None  # the protobuf message


def encode(out: Out, version: int) -> bytes:
    if out.proto is not None and version >= PROTO_SINCE.get(out.msg_id, NEVER):
        return proto_message(out.msg_id, out.proto().SerializeToString())
    return text_message(version, out.msg_id, out.text(version))


def _fixed(*fields: object) -> Callable[[int], list]:
    return lambda version: list(fields)


def _contract(contract: dict, *keys: str) -> list[object]:
    return [contract_value(contract, key) for key in keys]


# -- session ------------------------------------------------------------------------------------------------------


def managed_accounts(accounts: list[str]) -> Out:
    text = ",".join(accounts)
    return Out(IN.MANAGED_ACCTS, _fixed(1, text), lambda: pb.proto("ManagedAccounts", accountsList=text))


def next_valid_id(order_id: int) -> Out:
    return Out(IN.NEXT_VALID_ID, _fixed(1, order_id), lambda: pb.proto("NextValidId", orderId=order_id))


def error(req_id: int, code: int, text: str) -> Out:
    """IN.ERR_MSG: below 194 version 2, reqId, code, text, advancedOrderRejectJson; from 194 no version, errorTime
    (epoch milliseconds) last."""
    epoch_ms = int(time.time() * 1000)

    def fields(version: int) -> list:
        if version >= sv.MIN_SERVER_VER_ERROR_TIME:
            return [req_id, code, text, "", epoch_ms]
        return [2, req_id, code, text, ""]

    return Out(IN.ERR_MSG, fields, lambda: pb.proto("ErrorMessage", id=req_id, errorTime=epoch_ms, errorCode=code,
                                                   errorMsg=text, advancedOrderRejectJson=""))


def current_time(epoch_seconds: int) -> Out:
    return Out(IN.CURRENT_TIME, _fixed(1, epoch_seconds), lambda: pb.proto("CurrentTime", currentTime=epoch_seconds))


# -- contracts and market data ------------------------------------------------------------------------------------


def contract_details(req_id: int, details: dict) -> Out:
    """IN.CONTRACT_DATA at >= MIN_SERVER_VER_SIZE_RULES: no version field; sizes as decimals."""
    pairs = [_tag_value(item) for item in details.get("secIdList") or []]
    sizes = [_size(details.get(k)) for k in ("minSize", "sizeIncrement", "suggestedSizeIncrement")]

    def fields(version: int) -> list:
        c = details["contract"]
        out: list[object] = [req_id, c.get("symbol", ""), c.get("secType", ""), c.get("lastTradeDateOrContractMonth", "")]
        if version >= sv.MIN_SERVER_VER_LAST_TRADE_DATE:
            out += [c.get("lastTradeDate", "")]
        out += [contract_value(c, "strike"), c.get("right", ""), c.get("exchange", ""), c.get("currency", ""),
                c.get("localSymbol", ""), details.get("marketName", ""), c.get("tradingClass", ""),
                contract_value(c, "conId"), float(details["minTick"]), c.get("multiplier", ""),
                details.get("orderTypes", ""), details.get("validExchanges", ""),
                int(details.get("priceMagnifier") or 1), int(details.get("underConId") or 0),
                details.get("longName", ""), c.get("primaryExchange", "")]
        out += [details.get(k, "") for k in ("contractMonth", "industry", "category", "subcategory", "timeZoneId",
                                             "tradingHours", "liquidHours", "evRule")]
        out += [int(details.get("evMultiplier") or 0), len(pairs)]
        for tag, value in pairs:
            out += [tag, value]
        out += [int(details.get("aggGroup") or 0), details.get("underSymbol", ""), details.get("underSecType", ""),
                details.get("marketRuleIds", ""), details.get("realExpirationDate", ""), details.get("stockType", "")]
        out += sizes
        if version >= sv.MIN_SERVER_VER_INELIGIBILITY_REASONS:
            out += [0]
        return out

    return Out(IN.CONTRACT_DATA, fields, lambda: pb.contract_data(req_id, details, pairs, sizes))


def _tag_value(item: object) -> tuple[str, str]:
    if isinstance(item, dict):
        if "_args" in item:
            return str(item["_args"][0]), str(item["_args"][1])
        return str(item.get("tag", "")), str(item.get("value", ""))
    tag, value = item  # type: ignore[misc]
    return str(tag), str(value)


def _size(value: object) -> Decimal:
    """A size rule as a decimal; absent or unset (2**127-1, as old captures hold) -> 1 (whole units)."""
    if value in (None, "", 0, 0.0):
        return Decimal(1)
    number = Decimal(str(value))
    return Decimal(1) if number >= Decimal(2**63) else number


def contract_details_end(req_id: int) -> Out:
    return Out(IN.CONTRACT_DATA_END, _fixed(1, req_id), lambda: pb.proto("ContractDataEnd", reqId=req_id))


def market_data_type(req_id: int, data_type: int) -> Out:
    return Out(IN.MARKET_DATA_TYPE, _fixed(1, req_id, data_type),
               lambda: pb.proto("MarketDataType", reqId=req_id, marketDataType=data_type))


def tick_req_params(req_id: int, min_tick: float) -> Out:
    return Out(IN.TICK_REQ_PARAMS, _fixed(req_id, min_tick, "9c0001", 3),
               lambda: pb.proto("TickReqParams", reqId=req_id, minTick=repr(min_tick), bboExchange="9c0001",
                                snapshotPermissions=3))


def tick_price(req_id: int, tick_type: int, price: float, size: Decimal) -> Out:
    """IN.TICK_PRICE version 6: the decoder also calls tickSize for bid/ask/last with this size."""
    return Out(IN.TICK_PRICE, _fixed(6, req_id, tick_type, price, size, 0),
               lambda: pb.proto("TickPrice", reqId=req_id, tickType=tick_type, price=price,
                                size=pb.decimal_text(size), attrMask=0))


def tick_size(req_id: int, tick_type: int, size: Decimal) -> Out:
    return Out(IN.TICK_SIZE, _fixed(6, req_id, tick_type, size),
               lambda: pb.proto("TickSize", reqId=req_id, tickType=tick_type, size=pb.decimal_text(size)))


def tick_by_tick_last(req_id: int, epoch_seconds: int, price: float, size: Decimal, exchange: str) -> Out:
    """IN.TICK_BY_TICK, tick type 2 (AllLast)."""
    return Out(IN.TICK_BY_TICK, _fixed(req_id, 2, epoch_seconds, price, size, 0, exchange, ""),
               lambda: pb.tick_by_tick_last(req_id, epoch_seconds, price, size, exchange))


# -- account --------------------------------------------------------------------------------------------------------


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Out:
    return Out(IN.ACCOUNT_SUMMARY, _fixed(1, req_id, account, tag, value, currency),
               lambda: pb.proto("AccountSummary", reqId=req_id, account=account, tag=tag, value=value,
                                currency=currency))


def account_summary_end(req_id: int) -> Out:
    return Out(IN.ACCOUNT_SUMMARY_END, _fixed(1, req_id), lambda: pb.proto("AccountSummaryEnd", reqId=req_id))


def position(account: str, contract: dict, quantity: Decimal, avg_cost: float) -> Out:
    """IN.POSITION_DATA version 3."""
    return Out(IN.POSITION_DATA, _fixed(3, account, *_contract(contract, *MSG_CONTRACT), quantity, avg_cost),
               lambda: pb.proto("Position", account=account, contract=pb.contract_proto(contract),
                                position=pb.decimal_text(quantity), avgCost=avg_cost))


def position_end() -> Out:
    return Out(IN.POSITION_END, _fixed(1), lambda: pb.proto("PositionEnd"))


def account_value(key: str, value: str, currency: str, account: str) -> Out:
    """IN.ACCT_VALUE (reqAccountUpdates): version 2, key, value, currency, account."""
    return Out(IN.ACCT_VALUE, _fixed(2, key, value, currency, account),
               lambda: pb.proto("AccountValue", key=key, value=value, currency=currency, accountName=account))


def portfolio_value(contract: dict, quantity: Decimal, price: float, avg_cost: float, account: str) -> Out:
    """IN.PORTFOLIO_VALUE version 8: the contract with primaryExchange, position, prices, PnL, account."""
    value, unrealized = float(quantity) * price, (price - avg_cost) * float(quantity)
    keys = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
            "primaryExchange", "currency", "localSymbol", "tradingClass")
    return Out(IN.PORTFOLIO_VALUE, _fixed(8, *_contract(contract, *keys), quantity, price, value, avg_cost, unrealized,
                                          0.0, account),
               lambda: pb.proto("PortfolioValue", contract=pb.contract_proto(contract),
                                position=pb.decimal_text(quantity), marketPrice=price, marketValue=value,
                                averageCost=avg_cost, unrealizedPNL=unrealized, realizedPNL=0.0, accountName=account))


def account_time(stamp: str) -> Out:
    return Out(IN.ACCT_UPDATE_TIME, _fixed(1, stamp), lambda: pb.proto("AccountUpdateTime", timeStamp=stamp))


def account_download_end(account: str) -> Out:
    return Out(IN.ACCT_DOWNLOAD_END, _fixed(1, account), lambda: pb.proto("AccountDataEnd", accountName=account))


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Out:
    """IN.ACCOUNT_UPDATE_MULTI (reqAccountUpdatesMulti): version 1, reqId, account, modelCode, key, value, currency."""
    return Out(IN.ACCOUNT_UPDATE_MULTI, _fixed(1, req_id, account, "", key, value, currency),
               lambda: pb.proto("AccountUpdateMulti", reqId=req_id, account=account, modelCode="", key=key, value=value,
                                currency=currency))


def account_update_multi_end(req_id: int) -> Out:
    return Out(IN.ACCOUNT_UPDATE_MULTI_END, _fixed(1, req_id), lambda: pb.proto("AccountUpdateMultiEnd", reqId=req_id))


# -- orders -----------------------------------------------------------------------------------------------------------


def order_status(order: SimOrder) -> Out:
    """IN.ORDER_STATUS at >= MIN_SERVER_VER_MARKET_CAP_PRICE: no version field, mktCapPrice last."""
    return Out(IN.ORDER_STATUS, _fixed(order.order_id, order.status, order.filled, order.remaining, order.avg_price,
                                       order.perm_id, 0, order.last_price, order.client_id, order.why_held, 0.0),
               lambda: pb.order_status(order))


def open_order_end() -> Out:
    return Out(IN.OPEN_ORDER_END, _fixed(1), lambda: pb.proto("OpenOrdersEnd"))


def completed_orders_end() -> Out:
    return Out(IN.COMPLETED_ORDERS_END, _fixed(), lambda: pb.proto("CompletedOrdersEnd"))


def open_order(order: SimOrder, contract: dict) -> Out:
    return Out(IN.OPEN_ORDER, lambda version: _open_order_fields(order, contract, version),
               lambda: pb.open_order(order, contract))


def _open_order_fields(order: SimOrder, contract: dict, version: int) -> list:
    """IN.OPEN_ORDER at >= MIN_SERVER_VER_ORDER_CONTAINER (no version field), in orderdecoder.py's order."""
    fields: list[object] = [order.order_id, *_contract(contract, *MSG_CONTRACT)]
    lmt = "" if order.lmt_price is None else order.lmt_price
    fields += [order.action, order.quantity, order.order_type, lmt, "", order.tif, "", order.account, "O", 0,
               order.order_ref, order.client_id, order.perm_id, order.outside_rth, False, 0.0, ""]
    fields += [""]  # sharesAllocation (deprecated)
    fields += ["", "", ""]  # faGroup, faMethod, faPercentage
    if version < sv.MIN_SERVER_VER_FA_PROFILE_DESUPPORT:
        fields += [""]  # faProfile
    fields += ["", "", "", "", ""]  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
    fields += [0, "", -1, 0]  # shortSaleSlot, designatedLocation, exemptCode, auctionStrategy
    fields += ["", "", "", "", ""]  # startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
    fields += [UNSET_INT, False, False, False, "", 0]  # displaySize, blockOrder, sweepToFill, allOrNone, minQty, ocaType
    fields += [False, False, "", 0, 0]  # eTradeOnly, firmQuoteOnly, nbboPriceCap, parentId, triggerMethod
    fields += ["", 0, "", "", False, 0]  # volatility, volatilityType, deltaNeutralOrderType, ..AuxPrice, cont., refPx
    fields += ["", ""]  # trailStopPrice, trailingPercent
    fields += ["", ""]  # basisPoints, basisPointsType
    fields += ["", 0, 0]  # comboLegsDescrip, comboLegsCount, orderComboLegsCount
    fields += [0]  # smartComboRoutingParamsCount
    fields += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement (unset: no more scale)
    fields += [""]  # hedgeType (empty: no hedgeParam)
    fields += [False, order.account, "", False, False, ""]  # optOut, clearingAccount, -Intent, notHeld, DN, algo
    fields += [False]  # solicited
    fields += [False, order.status, "", "", "", "", "", "", "", "", ""]  # whatIf, status, margins before/change/after
    fields += ["", "", "", ""]  # commission, minCommission, maxCommission, commissionCurrency
    if version >= sv.MIN_SERVER_VER_FULL_ORDER_PREVIEW_FIELDS:
        fields += ["", *[""] * 9, "", "", 0]  # marginCurrency, 9 outside-RTH margins, suggestedSize, reject, allocs
    fields += [""]  # warningText
    fields += [False, False]  # randomizeSize, randomizePrice
    fields += [0]  # conditionsSize
    fields += ["", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0]  # adjusted order type .. adjustableTrailingUnit
    fields += ["", "", ""]  # softDollarTier name, value, displayName
    fields += [0.0, False, False, False, False]  # cashQty, dontUseAutoPriceForHedge, isOms, discretionaryUpTo, mgmt
    fields += ["", "", False]  # duration, postToAts, autoCancelParent
    fields += ["", "", "", "", ""]  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
    return fields + _newer_order_fields(version)


NEWER_ORDER_FIELDS = ((sv.MIN_SERVER_VER_CUSTOMER_ACCOUNT, [""]), (sv.MIN_SERVER_VER_PROFESSIONAL_CUSTOMER, [False]),
                      (sv.MIN_SERVER_VER_BOND_ACCRUED_INTEREST, [""]), (sv.MIN_SERVER_VER_INCLUDE_OVERNIGHT, [False]),
                      (sv.MIN_SERVER_VER_CME_TAGGING_FIELDS_IN_OPEN_ORDER, ["", ""]),
                      (sv.MIN_SERVER_VER_SUBMITTER, [""]), (sv.MIN_SERVER_VER_IMBALANCE_ONLY, [False]))


def _newer_order_fields(version: int) -> list:
    """customerAccount .. imbalanceOnly: the openOrder fields added after 176, each from its version."""
    return [value for since, values in NEWER_ORDER_FIELDS if version >= since for value in values]


def completed_order(order: SimOrder, contract: dict, completed_time: str) -> Out:
    return Out(IN.COMPLETED_ORDER, lambda version: _completed_order_fields(order, contract, completed_time, version),
               lambda: pb.completed_order(order, contract, completed_time))


def _completed_order_fields(order: SimOrder, contract: dict, completed_time: str, version: int) -> list:
    """IN.COMPLETED_ORDER, in processCompletedOrderMsg's order (no order id, no version field)."""
    fields: list[object] = [*_contract(contract, *MSG_CONTRACT)]
    lmt = "" if order.lmt_price is None else order.lmt_price
    fields += [order.action, order.quantity, order.order_type, lmt, "", order.tif, "", order.account, "O", 0,
               order.order_ref, order.perm_id, order.outside_rth, False, 0.0, ""]
    fields += ["", "", ""]  # faGroup, faMethod, faPercentage
    if version < sv.MIN_SERVER_VER_FA_PROFILE_DESUPPORT:
        fields += [""]  # faProfile
    fields += ["", "", "", "", ""]  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
    fields += [0, "", -1]  # shortSaleSlot, designatedLocation, exemptCode
    fields += ["", "", "", "", ""]  # startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
    fields += [UNSET_INT, False, False, "", 0, 0]  # displaySize, sweepToFill, allOrNone, minQty, ocaType, trigger
    fields += ["", 0, "", "", False, 0]  # volatility .. referencePriceType
    fields += ["", ""]  # trailStopPrice, trailingPercent
    fields += ["", 0, 0, 0]  # comboLegsDescrip, comboLegsCount, orderComboLegsCount, smartComboRoutingParamsCount
    fields += ["", "", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement, hedgeType
    fields += [order.account, "", False, False, ""]  # clearingAccount, clearingIntent, notHeld, deltaNeutral, algo
    fields += [False, order.status, False, False, 0]  # solicited, status, randomizeSize/Price, conditionsSize
    fields += [0.0, 0.0, 0.0, False, False]  # trailStopPrice, lmtPriceOffset, cashQty, dontUseAutoPrice.., isOms
    fields += ["", order.filled, 0, False, "", False, False, 0]  # autoCancelDate .. parentPermId
    fields += [completed_time, order.status]  # completedTime, completedStatus
    fields += ["", "", "", "", ""]  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
    newer = ((sv.MIN_SERVER_VER_CUSTOMER_ACCOUNT, [""]), (sv.MIN_SERVER_VER_PROFESSIONAL_CUSTOMER, [False]),
             (sv.MIN_SERVER_VER_SUBMITTER, [""]))
    return fields + [value for since, values in newer if version >= since for value in values]


def exec_details(req_id: int, execution: Execution, contract: dict) -> Out:
    """IN.EXECUTION_DATA at >= MIN_SERVER_VER_LAST_LIQUIDITY: no version field; lastLiquidity 2 (removed)."""
    exchange = contract.get("exchange") or "SMART"

    def fields(version: int) -> list:
        out = [req_id, execution.order_id, *_contract(contract, *MSG_CONTRACT), execution.exec_id, execution.time,
               execution.account, exchange, execution.side, execution.shares, execution.price, execution.perm_id,
               execution.client_id, 0, execution.cum_qty, execution.avg_price, execution.order_ref, "", "", "", 2]
        if version >= sv.MIN_SERVER_VER_PENDING_PRICE_REVISION:
            out += [False]
        if version >= sv.MIN_SERVER_VER_SUBMITTER:
            out += [""]
        return out

    return Out(IN.EXECUTION_DATA, fields, lambda: pb.execution(req_id, execution, contract, exchange))


def exec_details_end(req_id: int) -> Out:
    return Out(IN.EXECUTION_DATA_END, _fixed(1, req_id), lambda: pb.proto("ExecutionDetailsEnd", reqId=req_id))


def commission_report(execution: Execution) -> Out:
    return Out(IN.COMMISSION_AND_FEES_REPORT, _fixed(1, execution.exec_id, execution.commission, execution.currency,
                                                     UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, ""),
               lambda: pb.proto("CommissionAndFeesReport", execId=execution.exec_id,
                                commissionAndFees=execution.commission, currency=execution.currency))
