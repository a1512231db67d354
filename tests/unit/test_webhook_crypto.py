"""The callback schemes against the platforms' documented algorithms and sample vectors."""
from __future__ import annotations

import pytest

from mdm.capture.webhook_crypto import (
    Undecryptable, hmac_signature, lark_decrypt, lark_encrypt, lark_signature, wx_decrypt,
    wx_encrypt, wx_signature)

# The sample at the end of DingCallbackCrypto3.py (github.com/open-dingtalk/DingTalk-Callback-Crypto).
DING_ENCRYPT = ("0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPv"
                "NvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3")
DING_AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"


def test_the_dingtalk_sample_vector_verifies_and_decrypts() -> None:
    assert wx_signature("mryue", "1608001896814", "WL4PK6yA", DING_ENCRYPT) == \
        "03044561471240d4a14bb09372dfcfd4fd0e40cb"
    assert wx_decrypt(DING_AES, DING_ENCRYPT, "ding6ccabc44d2c8d38b") == '{"EventType":"check_url"}'


def test_a_dingtalk_text_for_another_app_or_key_is_undecryptable() -> None:
    with pytest.raises(Undecryptable, match="owner_key"):
        wx_decrypt(DING_AES, DING_ENCRYPT, "ding-other")
    with pytest.raises(Undecryptable):
        wx_decrypt("a" * 43, DING_ENCRYPT, "ding6ccabc44d2c8d38b")
    with pytest.raises(Undecryptable, match="base64|blocks"):
        wx_decrypt(DING_AES, "not*base64!", "ding6ccabc44d2c8d38b")


def test_wx_encrypt_pads_to_32_and_round_trips() -> None:
    import base64
    text = wx_encrypt(DING_AES, "审批 success", "corp1", prefix=b"0" * 16)
    assert len(base64.b64decode(text)) % 32 == 0
    assert wx_decrypt(DING_AES, text, "corp1") == "审批 success"


def test_the_signature_sorts_its_four_values() -> None:
    import hashlib
    assert wx_signature("b", "c", "a", "d") == hashlib.sha1(b"abcd").hexdigest()


def test_the_feishu_documented_sample_decrypts() -> None:
    # 飞书 "接收事件 / 解密示例": encrypt_key "test key", "hello world".
    assert lark_decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == "hello world"
    assert lark_decrypt("k", lark_encrypt("k", '{"a": "飞书"}')) == '{"a": "飞书"}'
    with pytest.raises(Undecryptable):
        lark_decrypt("other key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")


def test_the_feishu_signature_is_sha256_of_timestamp_nonce_key_body() -> None:
    import hashlib
    assert lark_signature("1", "n", "k", b"{}") == hashlib.sha256(b"1nk{}").hexdigest()


def test_the_hmac_signature_covers_timestamp_dot_body() -> None:
    import hashlib
    import hmac
    assert hmac_signature("s", "100", b'{"id": 1}') == hmac.new(
        b"s", b'100.{"id": 1}', hashlib.sha256).hexdigest()
