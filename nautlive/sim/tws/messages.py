"""Server -> client messages at SERVER_VERSION, field for field as `ibapi/decoder.py` (+ orderdecoder.py) reads them.

Each function returns one framed message. Messages the decoder reads by the wrapper's signature (managedAccounts,
nextValidId, accountSummary, the *End messages) are `id, version, params...`; the others follow their `processXxx`.
tests/test_tws_sim.py decodes every one of them with the real ibapi Decoder.
"""

from __future__ import annotations

from decimal import Decimal

from ibapi.message import IN

from nautlive.sim.tws.protocol import UNSET_INT, frame
from nautlive.sim.tws.records import Execution, SimOrder, contract_value

UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
# The contract fields of position, openOrder and execDetails (no primaryExchange)
MSG_CONTRACT = ("conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier",
                "exchange", "currency", "localSymbol", "tradingClass")


def _contract(contract: dict, *keys: str) -> list[object]:
    return [contract_value(contract, key) for key in keys]


# -- session ------------------------------------------------------------------------------------------------------


def managed_accounts(accounts: list[str]) -> bytes:
    return frame(IN.MANAGED_ACCTS, 1, ",".join(accounts))


def next_valid_id(order_id: int) -> bytes:
    return frame(IN.NEXT_VALID_ID, 1, order_id)


def error(req_id: int, code: int, text: str) -> bytes:
    """IN.ERR_MSG: version 2, reqId (-1 for the connection), code, text, advancedOrderRejectJson."""
    return frame(IN.ERR_MSG, 2, req_id, code, text, "")


def current_time(epoch_seconds: int) -> bytes:
    return frame(IN.CURRENT_TIME, 1, epoch_seconds)


# -- contracts and market data ------------------------------------------------------------------------------------


def contract_details(req_id: int, details: dict) -> bytes:
    """IN.CONTRACT_DATA at >= MIN_SERVER_VER_SIZE_RULES: no version field; sizes as decimals."""
    c = details["contract"]
    sec_ids = details.get("secIdList") or []
    pairs = [_tag_value(item) for item in sec_ids]
    fields: list[object] = [IN.CONTRACT_DATA, req_id, c.get("symbol", ""), c.get("secType", ""),
                            c.get("lastTradeDateOrContractMonth", ""), contract_value(c, "strike"), c.get("right", ""),
                            c.get("exchange", ""), c.get("currency", ""), c.get("localSymbol", ""),
                            details.get("marketName", ""), c.get("tradingClass", ""), contract_value(c, "conId"),
                            float(details["minTick"]), c.get("multiplier", ""), details.get("orderTypes", ""),
                            details.get("validExchanges", ""), int(details.get("priceMagnifier") or 1),
                            int(details.get("underConId") or 0), details.get("longName", ""),
                            c.get("primaryExchange", "")]
    fields += [details.get(k, "") for k in ("contractMonth", "industry", "category", "subcategory", "timeZoneId",
                                           "tradingHours", "liquidHours", "evRule")]
    fields += [int(details.get("evMultiplier") or 0), len(pairs)]
    for tag, value in pairs:
        fields += [tag, value]
    fields += [int(details.get("aggGroup") or 0), details.get("underSymbol", ""), details.get("underSecType", ""),
               details.get("marketRuleIds", ""), details.get("realExpirationDate", ""), details.get("stockType", "")]
    fields += [_size(details.get(k)) for k in ("minSize", "sizeIncrement", "suggestedSizeIncrement")]
    return frame(*fields)


def _tag_value(item: object) -> tuple[str, str]:
    if isinstance(item, dict):
        if "_args" in item:
            return str(item["_args"][0]), str(item["_args"][1])
        return str(item.get("tag", "")), str(item.get("value", ""))
    tag, value = item  # type: ignore[misc]
    return str(tag), str(value)


def _size(value: object) -> object:
    """A size rule as a decimal; absent or unset (2**127-1, as old captures hold) -> 1 (whole units)."""
    if value in (None, "", 0, 0.0):
        return Decimal(1)
    number = Decimal(str(value))
    return Decimal(1) if number >= Decimal(2**63) else number


def contract_details_end(req_id: int) -> bytes:
    return frame(IN.CONTRACT_DATA_END, 1, req_id)


def market_data_type(req_id: int, data_type: int) -> bytes:
    return frame(IN.MARKET_DATA_TYPE, 1, req_id, data_type)


def tick_req_params(req_id: int, min_tick: float) -> bytes:
    return frame(IN.TICK_REQ_PARAMS, req_id, min_tick, "9c0001", 3)


def tick_price(req_id: int, tick_type: int, price: float, size: Decimal) -> bytes:
    """IN.TICK_PRICE version 6: the decoder also calls tickSize for bid/ask/last with this size."""
    return frame(IN.TICK_PRICE, 6, req_id, tick_type, price, size, 0)


def tick_size(req_id: int, tick_type: int, size: Decimal) -> bytes:
    return frame(IN.TICK_SIZE, 6, req_id, tick_type, size)


def tick_by_tick_last(req_id: int, epoch_seconds: int, price: float, size: Decimal, exchange: str) -> bytes:
    """IN.TICK_BY_TICK, tick type 2 (AllLast)."""
    return frame(IN.TICK_BY_TICK, req_id, 2, epoch_seconds, price, size, 0, exchange, "")


# -- account --------------------------------------------------------------------------------------------------------


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> bytes:
    return frame(IN.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency)


def account_summary_end(req_id: int) -> bytes:
    return frame(IN.ACCOUNT_SUMMARY_END, 1, req_id)


def position(account: str, contract: dict, quantity: Decimal, avg_cost: float) -> bytes:
    """IN.POSITION_DATA version 3."""
    return frame(IN.POSITION_DATA, 3, account, *_contract(contract, *MSG_CONTRACT), quantity, avg_cost)


def position_end() -> bytes:
    return frame(IN.POSITION_END, 1)


# -- orders -----------------------------------------------------------------------------------------------------------


def order_status(order: SimOrder) -> bytes:
    """IN.ORDER_STATUS at >= MIN_SERVER_VER_MARKET_CAP_PRICE: no version field, mktCapPrice last."""
    return frame(IN.ORDER_STATUS, order.order_id, order.status, order.filled, order.remaining, order.avg_price,
                 order.perm_id, 0, order.last_price, order.client_id, order.why_held, 0.0)


def open_order_end() -> bytes:
    return frame(IN.OPEN_ORDER_END, 1)


def open_order(order: SimOrder, contract: dict) -> bytes:
    """IN.OPEN_ORDER at >= MIN_SERVER_VER_ORDER_CONTAINER (no version field), in orderdecoder.py's order."""
    fields: list[object] = [IN.OPEN_ORDER, order.order_id, *_contract(contract, *MSG_CONTRACT)]
    lmt = "" if order.lmt_price is None else order.lmt_price
    fields += [order.action, order.quantity, order.order_type, lmt, "", order.tif, "", order.account, "O", 0,
               order.order_ref, order.client_id, order.perm_id, order.outside_rth, False, 0.0, ""]
    fields += [""]  # sharesAllocation (deprecated)
    fields += ["", "", "", ""]  # faGroup, faMethod, faPercentage, faProfile (before FA_PROFILE_DESUPPORT)
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
    fields += ["", "", "", "", ""]  # commission, minCommission, maxCommission, commissionCurrency, warningText
    fields += [False, False]  # randomizeSize, randomizePrice
    fields += [0]  # conditionsSize
    fields += ["", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0]  # adjusted order type .. adjustableTrailingUnit
    fields += ["", "", ""]  # softDollarTier name, value, displayName
    fields += [0.0, False, False, False, False]  # cashQty, dontUseAutoPriceForHedge, isOms, discretionaryUpTo, mgmt
    fields += ["", "", False]  # duration, postToAts, autoCancelParent
    fields += ["", "", "", "", ""]  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
    return frame(*fields)


def exec_details(req_id: int, execution: Execution, contract: dict) -> bytes:
    """IN.EXECUTION_DATA at >= MIN_SERVER_VER_LAST_LIQUIDITY: no version field; lastLiquidity 2 (removed)."""
    return frame(IN.EXECUTION_DATA, req_id, execution.order_id, *_contract(contract, *MSG_CONTRACT), execution.exec_id,
                 execution.time, execution.account, contract.get("exchange") or "SMART", execution.side,
                 execution.shares, execution.price, execution.perm_id, execution.client_id, 0, execution.cum_qty,
                 execution.avg_price, execution.order_ref, "", "", "", 2)


def exec_details_end(req_id: int) -> bytes:
    return frame(IN.EXECUTION_DATA_END, 1, req_id)


def commission_report(execution: Execution) -> bytes:
    return frame(IN.COMMISSION_AND_FEES_REPORT, 1, execution.exec_id, execution.commission, execution.currency,
                 UNSET_DOUBLE_TEXT, UNSET_DOUBLE_TEXT, "")

