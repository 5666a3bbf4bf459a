"""nautlive: one target-weight rebalancing strategy on NautilusTrader, in backtest, shadow and live."""

__version__ = "0.1.0"
