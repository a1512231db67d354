"""Addresses and error texts never show a secret: passwords, tokens in the user part, secret
query parameters; multi-host URLs (NATS clusters, libpq's host lists) are read, never refused."""
from __future__ import annotations

import pytest

from mdm.api.configuration import _address, _target
from mdm.config.targets import NatsTarget, RestTarget, SqlTarget
from mdm.config.urls import hosts, mask_secrets, redact
from mdm.propagate.sql import engine_url

CASES = [
    ("https://oa.example/api?access_token=tok-123&lang=zh",
     "https://oa.example/api?access_token=***&lang=zh"),
    ("https://oa.example/api?password=pw-123", "https://oa.example/api?password=***"),
    ("https://oa.example/api?api_key=k1-123&token=t2;secret=s3&key=k4",
     "https://oa.example/api?api_key=***&token=***;secret=***&key=***"),
    ("https://oa.example/cb#access_token=tok-123", "https://oa.example/cb#access_token=***"),
    ("nats://u:pw-123@a:4222,b:4222", "nats://u:***@a:4222,b:4222"),
    ("nats://tok-123@a:4222", "nats://***@a:4222"),
    ("nats://u:pw-123@a:4222,nats://u:pw-123@b:4222",
     "nats://u:***@a:4222,nats://u:***@b:4222"),
    ("postgresql://mdm:pw-123@db1:5432,db2:5433/hub?sslmode=require",
     "postgresql://mdm:***@db1:5432,db2:5433/hub?sslmode=require"),
    ("amqp://guest:pw-123@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
    ("postgresql://mdm@db/hub", "postgresql://mdm@db/hub"),
    ("http://[::1:80/?token=tok-123", "*** (an address that cannot be read)"),
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_redact_masks_every_secret_and_keeps_the_rest(url: str, shown: str):
    assert redact(url) == shown
    assert "123" not in redact(url)


def test_free_text_errors_are_masked():
    text = ("HTTP 502: upstream https://sso.example/login?access_token=tok-123 failed; "
            "dsn host=db password=pw-123 user=mdm; Authorization: Bearer abcdefgh-123; key S0001")
    masked = mask_secrets(text)
    assert "123" not in masked
    assert "key S0001" in masked and "user=mdm" in masked  # what is not a secret stays


def test_multi_host_urls_are_split_and_given_to_sqlalchemy_in_its_form():
    assert hosts("nats://a:4222, b:4223") == [("a", 4222), ("b", 4223)]
    assert hosts("postgresql://u@[::1]:5432/db") == [("::1", 5432)]
    assert engine_url("postgresql://mdm:p%40w@a:5432,b:5433/hub?sslmode=require") == (
        "postgresql+psycopg://mdm:p%40w@/hub?host=a%3A5432&host=b%3A5433&sslmode=require")
    assert engine_url("postgresql://mdm@a:5432/hub") == "postgresql+psycopg://mdm@a:5432/hub"


def test_configuration_shows_query_secrets_and_nats_clusters_masked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MDM_TEST_OA_TOKEN", "tok-s3cret")
    shown = _address("https://oa.example/api?access_token=${MDM_TEST_OA_TOKEN}", "targets/oa.yaml")
    assert shown["resolved"] == "https://oa.example/api?access_token=***"
    nats = NatsTarget(name="stream", kind="nats", url="nats://u:s3cret@a:4222,b:4222")
    assert _address(nats.url, "targets/stream.yaml")["resolved"] == "nats://u:***@a:4222,b:4222"


def test_a_multi_host_sql_target_opens_and_shows_masked(monkeypatch: pytest.MonkeyPatch):
    from mdm.propagate.sql import SqlPropagator

    target = SqlTarget(name="hr", kind="sql", url="postgresql://mdm:s3cret@127.0.0.1:1,127.0.0.1:2/oa")
    propagator = SqlPropagator(target, project=None)  # type: ignore[arg-type]  # not used to open
    assert propagator.where.startswith("postgresql+psycopg://mdm:***@/oa?host=")
    assert "s3cret" not in propagator.where
    propagator.engine.dispose()


def test_the_target_view_of_a_rest_target_hides_its_token(monkeypatch: pytest.MonkeyPatch):
    from types import SimpleNamespace

    target = RestTarget(name="oa", kind="rest", base_url="https://oa.example/?token=s3cret",
                        headers={"Authorization": "Bearer s3cret"})
    view = _target(target, SimpleNamespace(entities={}), {})  # type: ignore[arg-type]
    assert "s3cret" not in str(view)


def test_references_to_secrets_are_shown_as_written():
    assert redact("https://oa/?access_token=${OA_TOKEN}") == "https://oa/?access_token=${OA_TOKEN}"
    assert redact("postgresql://mdm:${PW}@db/hub") == "postgresql://mdm:${PW}@db/hub"
