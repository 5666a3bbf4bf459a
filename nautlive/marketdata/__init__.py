"""Market data from the venue: `nautlive data download` (OHLCV bars: the public archive, then REST) and
`nautlive record` (the public streams into the recording format the replay feed and the backtest read).

A package of its own, not `nautlive/data/`: that folder already holds the package-data links (profiles, catalog,
orders) `nautlive init` copies from; DESIGN.md's planned `data/` package can absorb this one when the layout moves.
"""
