"""Binance keys as Binance issues them today: what nautlive accepts, what it refuses and how it says so (never the key).

Also the simulator's side: a logon signed with a wrong Ed25519 key or with HMAC is refused as Binance refuses it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from nautlive.errors import ConfigError
from nautlive.sim.binance import build_simulator
from nautlive.sim.keys import SIM_API_KEY, SIM_PRIVATE_KEY
from nautlive.sim.server import start_in_thread
from nautlive.venues.binance.keys import ed25519_private_key, require_ed25519, signer
from nautlive.venues.binance.ws_api import logon_params
from tests.conftest import REPO
from tests.live_helpers import CATALOG, D, ed25519_key_pair, use_key_file
from tests.ws_api_client import next_event, ws_api_call

PRIVATE, PUBLIC = ed25519_key_pair()
BODY = PRIVATE.splitlines()[1]


def encrypted_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                             ser.BestAvailableEncryption(b"passphrase")).decode()


def rsa_pem() -> str:
    key = generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()


# -- what a secret is -------------------------------------------------------------------------------------------


def test_pem_and_bare_base64_der_are_ed25519_keys_an_hmac_secret_is_not():
    assert ed25519_private_key(PRIVATE, "k") is not None
    assert ed25519_private_key(SIM_PRIVATE_KEY, "k") is not None  # the shipped sim key: PKCS#8 DER in base64
    assert ed25519_private_key("Hx8k2mR9secretOfSixtyFourCharacters", "k") is None


@pytest.mark.parametrize("make, says", [
    (encrypted_pem, "is encrypted"),
    (lambda: PUBLIC, "this is a public key"),
    (rsa_pem, "Ed25519"),
    (lambda: PRIVATE.replace(BODY, BODY[:20]), "not a readable PKCS#8 private key"),
])
def test_a_pem_that_cannot_be_the_private_key_is_one_clear_line_without_the_key(make, says):
    pem = make()
    with pytest.raises(ConfigError) as caught:
        ed25519_private_key(pem, "binance.api_secret")
    message = str(caught.value)
    assert says in message and "\n" not in message and message.startswith("binance.api_secret: ")
    assert not any(line in message for line in pem.splitlines()[1:-1])


def test_live_refuses_an_hmac_secret_naming_ed25519_and_how_to_make_a_key():
    with pytest.raises(ConfigError) as caught:
        require_ed25519("Hx8k2mR9secretOfSixtyFourCharacters", "profile.yaml: binance.api_secret")
    message = str(caught.value)
    assert "HMAC secret" in message and "Ed25519" in message and "openssl genpkey -algorithm ed25519" in message
    assert "Hx8k2mR9" not in message


def test_signatures_are_what_binance_verifies():
    payload = "apiKey=k&timestamp=1"
    signature = signer(PRIVATE)(payload)
    public = ser.load_pem_public_key(PUBLIC.encode())
    public.verify(base64.b64decode(signature), payload.encode())  # raises if wrong
    assert len(signer("secret")(payload)) == 64  # HMAC-SHA256, hex


# -- the CLI refuses before any venue call ------------------------------------------------------------------------


def live(directory: Path, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nautlive", "live", "--profile", "profile.yaml", "--arm", "--once"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NAUTLIVE_SIM")}
    # port 9: nothing listens there, so any venue call would fail differently (exit 1)
    environment.update(NAUTLIVE_SIM_HTTP="http://127.0.0.1:9", NAUTLIVE_SIM_WS="ws://127.0.0.1:9", **env)
    return subprocess.run(command, cwd=directory, env=environment, capture_output=True, text=True, timeout=60)


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    profile = yaml.safe_load((REPO / "profiles" / "binance-sim.yaml").read_text())
    profile["catalog"] = str(CATALOG)
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    return tmp_path


@pytest.mark.parametrize("secret, says", [
    ("Hx8k2mR9secretOfSixtyFourCharacters", "accepts only Ed25519 keys"),
    (encrypted_pem(), "is encrypted"),
    (PUBLIC, "this is a public key"),
])
def test_live_with_a_secret_it_cannot_use_exits_2_before_any_venue_call(profile_dir, secret, says):
    result = live(profile_dir, NAUTLIVE_SIM_SECRET=secret)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.stderr
    assert not any(part in result.stderr + result.stdout for part in secret.splitlines() if len(part) > 20)


def test_a_key_file_others_can_read_is_refused_with_chmod_600(profile_dir):
    use_key_file(profile_dir, PRIVATE, 0o644)
    result = live(profile_dir)
    assert result.returncode == 2
    assert "chmod 600" in result.stderr and "can be read by other users (mode 644)" in result.stderr
    assert BODY not in result.stderr


def test_a_key_file_and_a_secret_both_set_is_refused(profile_dir):
    use_key_file(profile_dir, PRIVATE, 0o600)
    profile = yaml.safe_load((profile_dir / "profile.yaml").read_text())
    profile["binance"]["api_secret"] = "x" * 40
    (profile_dir / "profile.yaml").write_text(yaml.safe_dump(profile))
    result = live(profile_dir)
    assert result.returncode == 2 and "not both" in result.stderr


# -- the simulator refuses logons Binance refuses -------------------------------------------------------------------


def test_the_simulator_takes_only_a_logon_signed_by_the_registered_ed25519_key():
    sim = build_simulator(["BTCUSDT"], {"USDT": D(1000)}, catalog_path=CATALOG)
    sim.keys.add_hmac("hmac-key", "hmac-secret")

    async def session(ws_url: str, http_url: str) -> dict:
        seen = {}
        async with aiohttp.ClientSession() as client:
            async def fresh(method: str, params: dict) -> dict:
                async with client.ws_connect(f"{ws_url}/ws-api/v3") as ws:
                    return await ws_api_call(ws, method, params)

            seen["wrong_ed25519"] = await fresh("session.logon", logon_params(SIM_API_KEY, PRIVATE))
            seen["hmac"] = await fresh("session.logon", logon_params("hmac-key", "hmac-secret"))
            seen["unknown_key"] = await fresh("session.logon", logon_params("who", SIM_PRIVATE_KEY))
            stale = {**logon_params(SIM_API_KEY, SIM_PRIVATE_KEY), "timestamp": 1}
            seen["stale"] = await fresh("session.logon", stale)
            seen["subscribe_alone"] = await fresh("userDataStream.subscribe", {})
            seen["hmac_signature_subscribe"] = await fresh("userDataStream.subscribe.signature",
                                                          logon_params("hmac-key", "hmac-secret"))
            async with client.ws_connect(f"{ws_url}/ws-api/v3") as ws:
                seen["logon"] = await ws_api_call(ws, "session.logon", logon_params(SIM_API_KEY, SIM_PRIVATE_KEY))
                seen["subscribe"] = await ws_api_call(ws, "userDataStream.subscribe", {})
                seen["ping"] = await ws_api_call(ws, "ping", {})
                seen["unknown"] = await ws_api_call(ws, "userDataStream.start", {})
                await ws.send_str("{not json")
                seen["bad_json"] = (await ws.receive_json(timeout=5))["error"]["code"]
                async with client.post(f"{http_url}/__sim/ws_api/terminate") as response:
                    seen["terminated"] = await response.json()
                seen["terminated_event"] = await next_event(ws)
                seen["status"] = await ws_api_call(ws, "session.status", {})
                seen["unsubscribe"] = await ws_api_call(ws, "userDataStream.unsubscribe", {"subscriptionId": "9"})
                seen["logout"] = await ws_api_call(ws, "session.logout", {})
        return seen

    with start_in_thread(sim) as running:
        seen = asyncio.run(asyncio.wait_for(session(running.ws_url, running.http_url), 30))
    for case in ("wrong_ed25519", "hmac"):
        assert seen[case]["status"] == 400 and seen[case]["error"] == {
            "code": -1022, "msg": "Signature for this request is not valid."}, case
    assert seen["unknown_key"]["status"] == 401 and seen["unknown_key"]["error"]["code"] == -2015
    assert seen["stale"]["error"]["code"] == -1021
    assert seen["subscribe_alone"]["status"] == 401
    assert seen["hmac_signature_subscribe"]["result"] == {"subscriptionId": 0}  # any key type
    assert seen["logon"]["result"]["apiKey"] == SIM_API_KEY and seen["subscribe"]["result"] == {"subscriptionId": 0}
    assert seen["ping"]["result"] == {} and seen["unknown"]["error"]["code"] == -1020 and seen["bad_json"] == -1000
    assert seen["terminated"] == {"terminated": 1} and seen["terminated_event"]["e"] == "eventStreamTerminated"
    assert seen["status"]["result"]["userDataStream"] is False
    assert seen["unsubscribe"]["result"] == {} and seen["logout"]["result"]["apiKey"] is None
