"""A 2026-style exchangeInfo built from the real 2023-09-08 capture, the way Binance reshaped the body since.

What changed (binance/binance-spot-api-docs, CHANGELOG.md and rest-api.md as of 2026-07):
- 2024-04-10: symbol permissions moved to `permissionSets` (`"permissions": ["SPOT", "MARGIN"]` became
  `"permissionSets": [["SPOT", "MARGIN"]]`); `permissions` is an empty list, "to be removed in a future release".
- 2025-04: `amendAllowed`; 2025-08-12: `pegInstructionsAllowed` and the `MAX_NUM_ORDER_AMENDS` (10) and
  `MAX_NUM_ORDER_LISTS` (20) filters; 2025-12-02: `opoAllowed`; `otoAllowed` beside them.
- orderTypes list STOP_LOSS and TAKE_PROFIT too (rest-api.md's example).

Run as a script it writes such a capture, optionally with filter values changed, for the README's examples:
    python -m tests.exchange_info_2026 --set BTCUSDT.MARKET_LOT_SIZE.maxQty=180.64469744 --out /tmp/info-2026.json
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from tests.conftest import REPO, SHARED_DATA

CAPTURE_2023 = SHARED_DATA / "binance" / "exchange_info" / "binance_spot_exchange_info_2023-09-08.json"
if not CAPTURE_2023.exists():  # a fresh clone: the same capture, BTCUSDT and ETHUSDT only (examples/data/README.md)
    CAPTURE_2023 = REPO / "examples" / "data" / "binance_spot_exchange_info_2023-09-08.json"
NEW_FLAGS = {"otoAllowed": True, "opoAllowed": True, "amendAllowed": True, "pegInstructionsAllowed": True}
NEW_FILTERS = [{"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
               {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20}]


def reshape_2026(info: dict) -> dict:
    """A copy of a 2023-shaped exchangeInfo body in today's shape (same symbols, same trading rules)."""
    out = copy.deepcopy(info)
    for symbol in out["symbols"]:
        symbol["permissionSets"] = [symbol["permissions"]]
        symbol["permissions"] = []
        symbol.update(NEW_FLAGS)
        symbol["orderTypes"] = sorted(set(symbol["orderTypes"]) | {"STOP_LOSS", "TAKE_PROFIT"})
        symbol["filters"].extend(copy.deepcopy(NEW_FILTERS))
    return out


def load_2026() -> dict:
    return reshape_2026(json.loads(CAPTURE_2023.read_text()))


def symbol(info: dict, name: str) -> dict:
    return next(s for s in info["symbols"] if s["symbol"] == name)


def set_filter(info: dict, name: str, filter_type: str, **values: object) -> dict:
    """Change (or add) one filter of one symbol, as the venue does from one day to the next; returns `info`."""
    filters = symbol(info, name)["filters"]
    found = next((f for f in filters if f["filterType"] == filter_type), None)
    if found is None:
        filters.append({"filterType": filter_type, **values})
    else:
        found.update(values)
    return info


def write(info: dict, path: Path) -> Path:
    path.write_text(json.dumps(info))
    return path


def capture(path: Path, changes: dict[tuple[str, str], dict] | None = None) -> Path:
    """Write a 2026-style capture with {(symbol, filter type): {field: value}} changed."""
    info = load_2026()
    for (name, filter_type), values in (changes or {}).items():
        set_filter(info, name, filter_type, **values)
    return write(info, path)


MARKET_MAX_UP = {("BTCUSDT", "MARKET_LOT_SIZE"): {"maxQty": "180.64469744"}}  # the 2023 value 7% higher
MIN_NOTIONAL_DOUBLED = {("BTCUSDT", "NOTIONAL"): {"minNotional": "10.00000000"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="SYMBOL.FILTER.FIELD=VALUE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    info = load_2026()
    for change in args.set:
        where, _, value = change.partition("=")
        name, filter_type, field = where.split(".")
        set_filter(info, name, filter_type, **{field: value})
    write(info, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
