"""Loopback venue simulators that speak a real venue's wire protocol, so the real Nautilus adapters run offline.

binance: build a simulator (catalog, exchangeInfo capture, profile) and the public names · venue: BinanceSimulator,
listen keys and faults · exchange: placing and matching orders · account: balances, settlement, order queries ·
public: the public market-data answers · market: touches, books and feeds · books: the served L2 book, its update
ids and the walks · klines: bars of the trades · wire: records, errors and Binance's JSON shapes · rules: exchangeInfo
filters · feed: random walk and replayed recordings · rest: the REST endpoints · hub: WebSocket routing · controls:
the /__sim/ endpoints · server: aiohttp, `run_simulator`, `start_in_thread` · serving: what the Binance and TWS
simulators share (serving until a signal, the background thread, JSON control answers) · tws/: the TWS API venue.
"""
