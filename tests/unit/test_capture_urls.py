"""A capture source's address: one server, and a clear error naming the file otherwise (a
multi-host URL raised a bare ValueError from urllib before), with its password masked."""
from __future__ import annotations

import pytest

from mdm.capture.debezium import parse_url
from mdm.errors import ConfigError


def test_a_single_host_url_gives_its_endpoint() -> None:
    endpoint = parse_url("postgresql://mdm:s3cret@db.local:6543/erp", "cdc/erp.yaml")
    assert (endpoint.host, endpoint.port, endpoint.dbname, endpoint.user, endpoint.password) == (
        "db.local", 6543, "erp", "mdm", "s3cret")


@pytest.mark.parametrize("url", ["postgresql://mdm:s3cret@a:5432,b:5432/erp",
                                 "postgresql://mdm:s3cret@a:port/erp"])
def test_a_url_capture_cannot_read_is_a_config_error_naming_the_file(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url, "cdc/erp.yaml")
    message = str(caught.value)
    assert "cdc/erp.yaml" in message and "one host" in message
    assert "s3cret" not in message
