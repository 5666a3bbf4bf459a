"""Prices for the simulated venue: a seeded random walk per symbol, or a recorded Binance combined-stream file.

A recording has one message per line, `<receive time ns> <combined-stream JSON>` (gzip when the name ends in .gz);
its `@bookTicker`, `@trade` and `@depth@100ms` lines and the REST depth snapshot the recorder took (the book anew; the
diffs it already holds, `u` <= its lastUpdateId, are dropped) are replayed in order, as the shadow feed reads them.
"""

from __future__ import annotations

import gzip
import random
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import msgspec

from nautlive.errors import ConfigError
from nautlive.sim.rules import SymbolRules

REFERENCE_PRICES = {"BTCUSDT": Decimal(61800), "ETHUSDT": Decimal(2600)}
DEFAULT_REFERENCE_PRICE = Decimal(100)
DEPTH_NOTIONAL = Decimal(10_000_000)  # size shown on each side of the walk's book, in quote currency
STEP_VOLATILITY = 0.0001  # standard deviation of one walk step, as a fraction of the price


class Quote(msgspec.Struct, frozen=True):
    """Top of book of one symbol."""

    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal


class TradePrint(msgspec.Struct, frozen=True):
    """One public trade, as `GET /api/v3/trades` lists it."""

    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_is_maker: bool


Levels = tuple[tuple[Decimal, Decimal], ...]  # (price, quantity) pairs; a quantity of 0 removes the level


class DepthDiff(msgspec.Struct, frozen=True):
    """One `@depth@100ms` diff (the bid and ask levels it sets), or a REST snapshot (`snapshot`: the whole book)."""

    bids: Levels
    asks: Levels
    final_id: int
    snapshot: bool = False


class Recorded(msgspec.Struct, frozen=True):
    """One replayable line: the stream message exactly as recorded, plus what it says about the book or trades."""

    ts_ns: int
    symbol: str
    text: str
    quote: Quote | None = None
    trade: TradePrint | None = None
    depth: DepthDiff | None = None
    gap: bool = False  # a gap line of `nautlive record`: the depth diffs after it wait for the next snapshot


class _Message(msgspec.Struct):
    stream: str
    data: dict


class RandomWalk:
    """A seeded random walk of one symbol's top of book: bid and ask one tick apart, sizes worth DEPTH_NOTIONAL."""

    def __init__(self, rules: SymbolRules, seed: int = 0, start: Decimal | None = None) -> None:
        self._rules = rules
        self._rng = random.Random(f"{seed}-{rules.symbol}")
        self._mid = self._on_tick(start or REFERENCE_PRICES.get(rules.symbol, DEFAULT_REFERENCE_PRICE))

    def quote(self) -> Quote:
        tick = self._rules.price.step or Decimal("0.01")
        size = self._size(DEPTH_NOTIONAL / self._mid)
        return Quote(bid=self._mid, bid_qty=size, ask=self._mid + tick, ask_qty=size)

    def step(self) -> Quote:
        move = Decimal(repr(round(self._rng.gauss(0.0, STEP_VOLATILITY), 10)))
        self._mid = max(self._on_tick(self._mid * (1 + move)), self._rules.price.step or Decimal("0.01"))
        return self.quote()

    def trade_size(self) -> tuple[Decimal, bool] | None:
        """A small public trade on about half the steps: (quantity, buyer is maker)."""
        if self._rng.random() < 0.5:
            return None
        return self._size(Decimal(repr(round(self._rng.uniform(100, 5000), 2))) / self._mid), self._rng.random() < 0.5

    def _on_tick(self, price: Decimal) -> Decimal:
        tick = self._rules.price.step or Decimal("0.01")
        return (price / tick).to_integral_value() * tick

    def _size(self, qty: Decimal) -> Decimal:
        step = self._rules.lot.step or Decimal("0.00000001")
        return max((qty / step).quantize(Decimal(1), rounding=ROUND_DOWN) * step, step)


def read_recording(path: str | Path) -> list[Recorded]:
    """The bookTicker, trade and depth messages of a recorded stream file, in order; a malformed line is a
    ConfigError."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    kept: list[Recorded] = []
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                recorded = _parse_line(path, number, line)
                if recorded is not None:
                    kept.append(recorded)
    except FileNotFoundError:
        raise ConfigError(f"{path}: recording not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a recorded stream file") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read recording: {exc}") from None
    if not kept:
        kinds = "@bookTicker, @trade or @depth@100ms"
        raise ConfigError(f"{path}: no {kinds} messages: expected lines `<ns> <combined-stream JSON>`")
    return _with_snapshots(kept)


def _with_snapshots(kept: list[Recorded]) -> list[Recorded]:
    """Snapshots given the file's one symbol (dropped in a file of several), and the diffs each makes stale dropped."""
    symbols = {r.symbol for r in kept if r.symbol}
    out, synced = [], 0
    for r in kept:
        if r.gap:
            synced = 2**63
            continue
        if r.depth is not None and r.depth.snapshot:
            if len(symbols) != 1:
                continue
            r, synced = msgspec.structs.replace(r, symbol=next(iter(symbols))), r.depth.final_id
        elif r.depth is not None and r.depth.final_id <= synced:
            continue
        out.append(r)
    return out


def _parse_line(path: Path, number: int, line: str) -> Recorded | None:
    if not line.strip():
        return None
    stamp, _, text = line.strip().partition(" ")
    try:
        ts_ns = int(stamp)
        head = text[:60]
        if head.startswith('{"lastUpdateId"'):  # a REST snapshot: no symbol, the file's own (read_recording)
            snap = msgspec.json.decode(text)
            diff = DepthDiff(_levels(snap["bids"]), _levels(snap["asks"]), int(snap["lastUpdateId"]), snapshot=True)
            return Recorded(ts_ns=ts_ns, symbol="", text=text, depth=diff)
        if head.startswith('{"gap"'):
            return Recorded(ts_ns=ts_ns, symbol="", text=text, gap=True)
        if not any(marker in head for marker in ("@bookTicker", "@trade", "@depth@100ms")):
            return None
        message = msgspec.json.decode(text, type=_Message)
        d = message.data
        if message.stream.endswith("@bookTicker"):
            quote = Quote(Decimal(d["b"]), Decimal(d["B"]), Decimal(d["a"]), Decimal(d["A"]))
            return Recorded(ts_ns=ts_ns, symbol=d["s"], text=text, quote=quote)
        if message.stream.endswith("@trade"):
            trade = TradePrint(int(d["t"]), Decimal(d["p"]), Decimal(d["q"]), int(d["T"]), bool(d["m"]))
            return Recorded(ts_ns=ts_ns, symbol=d["s"], text=text, trade=trade)
        if message.stream.endswith("@depth@100ms"):
            diff = DepthDiff(_levels(d["b"]), _levels(d["a"]), int(d["u"]))
            return Recorded(ts_ns=ts_ns, symbol=d["s"], text=text, depth=diff)
        return None
    except (ValueError, KeyError, TypeError, ArithmeticError, msgspec.MsgspecError):
        expected = "`<ns> <combined-stream JSON>` of a bookTicker, trade or depthUpdate"
        raise ConfigError(f"{path}: line {number}: expected {expected}") from None


def _levels(pairs: list) -> Levels:
    return tuple((Decimal(px), Decimal(qty)) for px, qty in pairs)
