"""The API keys the simulated venue knows, and how it checks a signature as Binance does.

Binance signs over `k=v` pairs joined by `&`: Ed25519 keys sign with base64 output, HMAC secrets with hex. The venue
knows each key's public half (Ed25519) or its secret (HMAC). It ships knowing the throwaway key pair of
profiles/binance-sim.yaml, so `nautlive live --venue binance-sim` works out of the box; tests add their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

# THROWAWAY test key of the loopback simulator: published in this repository, worthless anywhere else.
SIM_API_KEY = "sim-key"
SIM_PRIVATE_KEY = "MC4CAQAwBQYDK2VwBCIEIDBf0AKctBsd4v1OZ7uV22gCDNvMmB29p/UreRGMz/+4"  # PKCS#8 DER, base64
SIM_PUBLIC_KEY_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA+f7O+nRrarwYW3+4B37iPIcmVbTZ1kZbh6er8vM8DYU=
-----END PUBLIC KEY-----
"""

KeyType = Literal["ed25519", "hmac"]


class KeyRing:
    """api key -> its Ed25519 public key or HMAC secret; `verify` says which kind signed, or None."""

    def __init__(self) -> None:
        self._ed25519: dict[str, object] = {}
        self._hmac: dict[str, bytes] = {}
        self.add_ed25519(SIM_API_KEY, SIM_PUBLIC_KEY_PEM)

    def add_ed25519(self, api_key: str, public_key_pem: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        self._ed25519[api_key] = load_pem_public_key(public_key_pem.encode())

    def add_hmac(self, api_key: str, secret: str) -> None:
        self._hmac[api_key] = secret.encode()

    def knows(self, api_key: str) -> bool:
        return api_key in self._ed25519 or api_key in self._hmac

    def verify(self, api_key: str, payload: str, signature: str) -> KeyType | None:
        public = self._ed25519.get(api_key)
        if public is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                public.verify(base64.b64decode(signature, validate=True), payload.encode())  # type: ignore[attr-defined]
                return "ed25519"
            except (InvalidSignature, binascii.Error, ValueError):
                return None
        secret = self._hmac.get(api_key)
        if secret is not None:
            expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
            return "hmac" if hmac.compare_digest(expected, signature.lower()) else None
        return None


def signed_payload(params: dict[str, object]) -> str:
    """Binance's WebSocket API signing payload: every parameter but `signature`, sorted by name, `k=v` joined by &."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
