"""Binance's section of a profile and the Nautilus client configs built from it."""

from __future__ import annotations

from typing import Literal

import msgspec

from nautlive.errors import ConfigError


class BinanceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Keys and endpoints. `api_secret` is the Ed25519 private key (unencrypted PKCS#8 PEM, from the environment) or,
    for public data and REST only, an HMAC secret; `api_secret_file` names a file holding that PEM instead (chmod 600).
    `base_url_ws` is the market streams' base, `base_url_ws_api` the WebSocket API (user stream) URL; unset, both
    follow `environment` (live, testnet or demo) as Nautilus's adapter defines them. `archive_url` is the base of
    Binance's public data archive (its layout: data/spot/monthly/klines/...), for `nautlive data download`."""

    api_key: str | None = None
    api_secret: str | None = None
    api_secret_file: str | None = None
    base_url_http: str | None = None
    base_url_ws: str | None = None
    base_url_ws_api: str | None = None
    archive_url: str | None = None  # the public data archive (`nautlive data download`); default data.binance.vision
    environment: Literal["live", "testnet", "demo"] = "live"
    testnet: bool = False  # the 1.221-era switch, kept for old profiles: true means environment: testnet

    @property
    def env(self) -> str:
        return "testnet" if self.testnet else self.environment


def _client_settings(profile, base_url_ws: str | None) -> dict:  # noqa: ANN001
    from nautilus_trader.adapters.binance import BinanceAccountType
    from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
    from nautilus_trader.config import InstrumentProviderConfig

    settings = profile.binance
    if settings is None or not (settings.api_key and settings.api_secret):
        raise ConfigError(
            f"profile {profile.name}: binance.api_key and binance.api_secret (or api_secret_file) are needed for the "
            "venue's clients: set them in the environment"
        )
    return dict(
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        account_type=BinanceAccountType.SPOT,
        base_url_http=settings.base_url_http.rstrip("/") if settings.base_url_http else None,
        base_url_ws=base_url_ws.rstrip("/") if base_url_ws else None,
        environment=BinanceEnvironment(settings.env.upper()),
        instrument_provider=InstrumentProviderConfig(load_ids=frozenset(profile.instruments)),
    )


def data_client_config(profile):  # noqa: ANN001, ANN201
    """Nautilus's BinanceDataClientConfig for a profile (instruments loaded by id, not all); `base_url_ws` is the
    market streams' base (the adapter appends /stream?streams=...)."""
    from nautilus_trader.adapters.binance import BinanceDataClientConfig

    return BinanceDataClientConfig(**_client_settings(profile, profile.binance and profile.binance.base_url_ws),
                                   update_instruments_interval_mins=None)


def exec_client_config(profile):  # noqa: ANN001, ANN201
    """Nautilus's BinanceExecClientConfig for a profile; its `base_url_ws` is the WebSocket API URL, used verbatim
    (session.logon and userDataStream.subscribe: the user stream since Nautilus 1.223)."""
    from nautilus_trader.adapters.binance import BinanceExecClientConfig

    return BinanceExecClientConfig(**_client_settings(profile, profile.binance and profile.binance.base_url_ws_api),
                                   max_retries=0)
