"""Closed-position PnL records kept in O(1) per position, for every portfolio nautlive builds.

nautilus_trader 1.231's Portfolio calls `PortfolioAnalyzer.record_trade` on each closed position, which appends by
`pd.concat` onto the whole series so far: O(n) per close, quadratic over a session (nautilus_trader#4434, fixed
upstream by #4444 after 1.231). A LIVE fill that closes a position paid about 0.4 ms for it. Here records are appended
to a list and turned into the same Series, in one concat, when something reads them (`realized_pnls` is the only reader
of the recorded series). Drop this module when the pin moves past the fix.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from nautilus_trader.analysis.analyzer import PortfolioAnalyzer


class AppendOnlyPnlAnalyzer(PortfolioAnalyzer):
    """PortfolioAnalyzer whose recorded trades wait in a list until `realized_pnls` is asked for."""

    _pending: list[tuple[Any, Any, int | None]]

    def record_trade(self, position_id, realized_pnl, ts_event: int | None = None) -> None:  # noqa: ANN001
        self._pending.append((position_id, realized_pnl, ts_event))

    def realized_pnls(self, currency=None) -> pd.Series | None:  # noqa: ANN001
        self._materialize()
        return super().realized_pnls(currency)

    def reset(self) -> None:
        super().reset()
        self._pending = []

    def _materialize(self) -> None:
        """Append the pending records to the per-currency series exactly as `record_trade` would have, in order."""
        if not self._pending:
            return
        by_currency: dict[Any, tuple[list[str], list[float], list[int | None]]] = {}
        for position_id, pnl, ts_event in self._pending:
            ids, values, stamps = by_currency.setdefault(pnl.currency, ([], [], []))
            ids.append(position_id.value)
            values.append(pnl.as_double())
            stamps.append(int(ts_event) if ts_event is not None else None)
        self._pending = []
        for currency, (ids, values, stamps) in by_currency.items():
            _extend(self._recorded_realized_pnls, currency, pd.Series(values, index=ids, dtype="float64"))
            _extend(self._recorded_realized_pnl_timestamps, currency, pd.Series(stamps, index=ids, dtype=object))


def _extend(series_by_currency: dict, currency, new: pd.Series) -> None:  # noqa: ANN001
    existing = series_by_currency.get(currency)
    series_by_currency[currency] = new if existing is None else pd.concat([existing, new])


def keep_pnl_records_cheap(portfolio) -> None:  # noqa: ANN001
    """Give `portfolio`'s analyzer (a Cython read-only attribute, so the instance is converted) the O(1) record."""
    analyzer = portfolio.analyzer
    if not isinstance(analyzer, AppendOnlyPnlAnalyzer):
        analyzer.__class__ = AppendOnlyPnlAnalyzer
        analyzer._pending = []
