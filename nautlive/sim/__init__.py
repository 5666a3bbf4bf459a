"""Loopback venue simulators that speak a real venue's wire protocol, so the real Nautilus adapters run offline.

binance: build a simulator (catalog, exchangeInfo capture, profile) and the public names · venue: BinanceSimulator,
listen keys and faults · exchange: balances, orders, matching · market: books and feeds · wire: records, errors and
Binance's JSON shapes · rules: exchangeInfo filters · feed: random walk and replayed recordings · rest: the REST
endpoints · hub: WebSocket routing · controls: the /__sim/ endpoints · server: aiohttp, `run_simulator`,
`start_in_thread`.
"""
