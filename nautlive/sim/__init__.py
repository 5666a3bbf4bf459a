"""Loopback venue simulators that speak a real venue's wire protocol, so the real Nautilus adapters run offline.

binance: the simulator's state and rules · rules: exchangeInfo filters · feed: random walk and replayed recordings ·
rest: the REST endpoints · server: aiohttp (HTTP + WebSocket), `run_simulator` and `start_in_thread`.
"""
