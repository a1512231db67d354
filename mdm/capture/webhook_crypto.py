"""The callback schemes' signatures and encryption, as the platforms document them. Pure
functions (no I/O); AES through the `cryptography` package.

钉钉 DingTalk HTTP event callbacks and 企业微信 WeCom callbacks share one scheme (WeCom's
WXBizMsgCrypt; DingTalk's official sample is DingCallbackCrypto, github.com/open-dingtalk/
DingTalk-Callback-Crypto, DingCallbackCrypto3.py):
- signature = SHA1 hex of the sorted concatenation of token, timestamp, nonce and the
  encrypted text (`''.join(sorted([nonce, timestamp, token, encrypt]))`);
- key = base64-decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = the key's first 16
  bytes; PKCS#7 padding to a multiple of 32 bytes;
- plaintext = 16 random bytes + the message's length (4 bytes, big-endian) + the message +
  the owner key (DingTalk: the AppKey or corpId; WeCom: the corpid, "receiveid"), which the
  receiver checks.
The DingTalk sample's own vector (token "mryue", timestamp "1608001896814") is in the tests.

飞书 Feishu/Lark (open.feishu.cn, 事件订阅 "接收事件" / "配置 Encrypt Key"):
- X-Lark-Signature = SHA256 hex of X-Lark-Request-Timestamp + X-Lark-Request-Nonce +
  encrypt_key + the raw body;
- {"encrypt": base64(iv + AES-256-CBC(PKCS#7)(event))} with key = SHA256(encrypt_key) and the
  IV the first 16 bytes of the decoded text.

hmac (generic): hex HMAC-SHA256(secret, timestamp + "." + body).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class Undecryptable(ValueError):
    """The text is not what the scheme encrypts (base64, block size, padding, owner key)."""


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def wx_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """钉钉/企业微信 msg_signature: SHA1 of the four values sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def _wx_key(aes_key: str) -> bytes:
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("aes_key is not a 43-character EncodingAESKey") from exc
    if len(key) != 32:
        raise ValueError("aes_key is not a 43-character EncodingAESKey")
    return key


def _aes(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def wx_decrypt(aes_key: str, encrypted: str, owner_key: str) -> str:
    """The message inside a 钉钉/企业微信 encrypted text; the owner key must match."""
    key = _wx_key(aes_key)
    try:
        data = base64.b64decode(encrypted, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise Undecryptable("the encrypted text is not base64") from exc
    if not data or len(data) % 16:
        raise Undecryptable("the encrypted text is not whole AES blocks")
    decryptor = _aes(key, key[:16]).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise Undecryptable("the padding is wrong (another aes_key?)")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise Undecryptable("the plaintext is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20:20 + length], plain[20 + length:]
    if len(message) != length:
        raise Undecryptable("the plaintext's length is wrong")
    if tail.decode("utf-8", "replace") != owner_key:
        raise Undecryptable("the plaintext is for another app (owner_key differs)")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Undecryptable("the message is not UTF-8") from exc


def wx_encrypt(aes_key: str, message: str, owner_key: str, prefix: bytes | None = None) -> str:
    """A 钉钉/企业微信 encrypted text (the answer to DingTalk; the tests' callbacks)."""
    key = _wx_key(aes_key)
    body = message.encode()
    plain = (prefix or os.urandom(16)) + struct.pack(">I", len(body)) + body + owner_key.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = _aes(key, key[:16]).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def lark_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """飞书 X-Lark-Signature."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def lark_decrypt(encrypt_key: str, encrypted: str) -> str:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    try:
        data = base64.b64decode(encrypted, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise Undecryptable("the encrypted text is not base64") from exc
    if len(data) < 32 or len(data) % 16:
        raise Undecryptable("the encrypted text is not an IV and whole AES blocks")
    decryptor = _aes(key, data[:16]).decryptor()
    plain = decryptor.update(data[16:]) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise Undecryptable("the padding is wrong (another encrypt_key?)")
    try:
        return plain[:-pad].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Undecryptable("the event is not UTF-8") from exc


def lark_encrypt(encrypt_key: str, event: str, iv: bytes | None = None) -> str:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = iv or os.urandom(16)
    body = event.encode()
    pad = 16 - len(body) % 16
    encryptor = _aes(key, iv).encryptor()
    return base64.b64encode(iv + encryptor.update(body + bytes([pad]) * pad)
                            + encryptor.finalize()).decode()


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
