"""Binance API keys as Binance issues them today: an Ed25519 private key (PKCS#8) or an HMAC secret.

Binance's WebSocket API takes `session.logon` and `userDataStream.subscribe` only from Ed25519 keys, and since the REST
listen key was retired (2026-02-20) that is the only user stream Nautilus opens on Spot; so LIVE needs Ed25519, while
public data and REST calls work with either kind. The secret is the unencrypted PKCS#8 PEM text (what
`openssl genpkey -algorithm ed25519` writes) or the bare base64 of its DER, as Nautilus's adapter reads it.

Messages never contain the key, its PEM or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable

from nautlive.errors import ConfigError

MAKE_ED25519_KEY = ("make one with `openssl genpkey -algorithm ed25519 -out binance-ed25519.pem` and "
                    "`openssl pkey -in binance-ed25519.pem -pubout`, register the public key on Binance (API Management, "
                    "Create API, Self-generated), and give nautlive the private key file (binance.api_secret_file)")
ED25519_OID = bytes.fromhex("06032b6570")


def is_pem(secret: str) -> bool:
    return "-----BEGIN" in secret


def ed25519_private_key(secret: str, where: str):  # noqa: ANN201 - Ed25519PrivateKey | None (imported lazily)
    """The Ed25519 private key in `secret`, or None when it is not one (an HMAC secret).

    A PEM that cannot serve as the private key (encrypted, a public key, another algorithm, damaged) is a
    ConfigError naming `where` (the profile key), never echoing the text.
    """
    if is_pem(secret):
        return _key_from_pem(secret, where)
    der = _base64_der(secret)
    if der is None or ED25519_OID not in der:
        return None
    return _load_der(der, where)


def _key_from_pem(secret: str, where: str):  # noqa: ANN202
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if "ENCRYPTED PRIVATE KEY" in secret or "Proc-Type: 4,ENCRYPTED" in secret:
        raise ConfigError(f"{where}: the private key PEM is encrypted; nautlive needs it unencrypted (PKCS#8): "
                          "`openssl pkey -in encrypted.pem -out binance-ed25519.pem`, then chmod 600 that file")
    if "PUBLIC KEY" in secret:
        raise ConfigError(f"{where}: this is a public key; the private key belongs here (the public key is the half "
                          "you register on Binance)")
    try:
        key = load_pem_private_key(secret.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not a readable PKCS#8 private key PEM (damaged or cut short?)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: a {type(key).__name__.removeprefix('_').removesuffix('PrivateKey')} key; "
                          f"Binance's user stream needs an Ed25519 key: {MAKE_ED25519_KEY}")
    return key


def _base64_der(secret: str) -> bytes | None:
    try:
        return base64.b64decode(secret.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _load_der(der: bytes, where: str):  # noqa: ANN202
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:
        key = load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: looks like an Ed25519 key in base64 but is not a readable private key "
                          "(a public key, or damaged?)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: not an Ed25519 private key")
    return key


def signer(secret: str, where: str = "binance.api_secret") -> Callable[[str], str]:
    """sign(payload) as Binance verifies it: Ed25519 -> standard base64; HMAC-SHA256 -> lowercase hex."""
    key = ed25519_private_key(secret, where)
    if key is not None:
        return lambda payload: base64.b64encode(key.sign(payload.encode())).decode()
    raw = secret.encode()
    return lambda payload: hmac.new(raw, payload.encode(), hashlib.sha256).hexdigest()


def require_ed25519(secret: str | None, where: str) -> None:
    """LIVE on Binance Spot: the secret must be an Ed25519 private key (ConfigError, exit 2, otherwise)."""
    if not secret:
        raise ConfigError(f"{where}: LIVE on Binance needs an Ed25519 private key: {MAKE_ED25519_KEY}")
    if ed25519_private_key(secret, where) is None:
        raise ConfigError(f"{where}: this is an HMAC secret; Binance's user stream (WebSocket API session.logon) "
                          f"accepts only Ed25519 keys, so LIVE would never hear of a fill: {MAKE_ED25519_KEY}")


def read_secret_file(path: str, where: str) -> str:
    """The key file's text; a file others can read is refused (exit 2) before it is even opened."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"{where}: {path}: cannot read the key file: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{where}: {path}: not a file")
    if mode & 0o077:
        raise ConfigError(f"{where}: {path} can be read by other users (mode {stat.S_IMODE(mode):03o}): "
                          f"`chmod 600 {path}`")
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path}: cannot read the key file: {getattr(exc, 'strerror', None) or 'not text'}") from None
