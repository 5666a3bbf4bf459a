"""Local receivers and sample data of the alert tests: aiohttp for json:// and form://, a port that refuses, a
receiver that answers after 10 s. Only loopback addresses."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import yaml
from aiohttp import web

from nautlive.config.profile import AlertSettings
from nautlive.core.drift import DriftRecord
from tests.conftest import REPO

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
SECRET = "hunter2-pass"

# -- local receivers -----------------------------------------------------------------------------------------------


class Receiver:
    """POST /hook (json://), /form (form://) record what arrives; /slow answers after 10 s; on 127.0.0.1."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        assert started.wait(10)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        application = web.Application()
        application.router.add_post("/hook", self._record)
        application.router.add_post("/form", self._record)
        application.router.add_post("/slow", self._slow)
        self.runner = web.AppRunner(application)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    async def _record(self, request: web.Request, delay: float = 0) -> web.Response:
        body = await request.json() if request.content_type == "application/json" else dict(await request.post())
        await asyncio.sleep(delay)
        self.got.append({"path": request.path, "auth": request.headers.get("Authorization"), **body})
        return web.Response(text="ok")

    async def _slow(self, request: web.Request) -> web.Response:
        return await self._record(request, delay=10)

    def url(self, scheme: str, path: str, auth: str = "") -> str:
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{path}"

    def wait(self, count: int, seconds: float = 10) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.got


def refused_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"json://127.0.0.1:{s.getsockname()[1]}/hook"


def settings(*urls: str, **kw) -> AlertSettings:  # noqa: ANN003
    return AlertSettings(urls=list(urls), **{"min_interval_secs": 0.0, **kw})


def record(bps: float = 31.2, alert: bool = True) -> DriftRecord:
    return DriftRecord(ts="2026-11-24T12:00:00.000000Z", session="s", mode="shadow", venue="BINANCE", instrument=BTC,
                       side="BUY", qty="0.5", fill_px="61850", mid_at_submit="61657.6", last_tick_px=None,
                       drift_bps=bps, notional="30925", client_order_id="O-1", target_hash="ab7e", alert=alert)


def report(**kw) -> SimpleNamespace:  # noqa: ANN003 - a RebalanceReport's fields
    orders = [{"client_order_id": "O-1", "instrument": BTC, "side": "BUY", "quantity": "0.5"}]
    return SimpleNamespace(**{"target_hash": "ab7e", "orders": orders, "rejected": [], "unfilled": [], "skipped": [],
                              "refused": None, "expired": [], **kw})


def mismatch(severity: str) -> SimpleNamespace:
    return SimpleNamespace(instrument=BTC, field="min_notional", catalog="5", venue="10", severity=severity)



def alert_profile(tmp_path: Path, alerts: dict) -> Path:
    profile = yaml.safe_load((REPO / "profiles" / "binance.yaml").read_text())
    profile["catalog"] = str(REPO / "artifacts" / "catalog" / "binance.yaml")
    profile["drift_log"] = str(tmp_path / "drift.log")
    profile["alerts"] = alerts
    path = tmp_path / "alerting.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path

