"""Target kinds and source kinds are registries keyed by kind: every kind the project-file schema
accepts has a registration (a source kind's carries its capture and its catalog reader), and a
kind without one is a ConfigError naming the file and the kind, never a fallback to another
kind."""
from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from mdm.capture.introspect import CatalogUnavailable, NoCatalogReader, read_catalog
from mdm.capture.registry import SOURCE_KINDS, declared_source_kinds, source_kind
from mdm.config.live_check import Probe
from mdm.config.sources import SourceSpec
from mdm.config.targets import KIND_KEYS, RestTarget, TargetSpec
from mdm.errors import ConfigError
from mdm.propagate.registry import TARGET_KINDS, declared_target_kinds, propagator_class
from mdm.propagate.rest import RestPropagator


def _tag_errors(adapter: TypeAdapter[object], value: dict[str, str]) -> list[str]:
    """The discriminator's errors for `value` (empty when its kind was taken, whatever else
    is missing)."""
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return [e["type"] for e in exc.errors() if e["type"].startswith("union_tag")]
    return []


def test_declared_target_kinds_are_the_kinds_the_schema_accepts() -> None:
    adapter: TypeAdapter[object] = TypeAdapter(TargetSpec)
    declared = declared_target_kinds()
    assert declared
    for kind in declared:  # other fields missing, but the kind itself is taken
        assert _tag_errors(adapter, {"name": "t", "kind": kind}) == []
    assert _tag_errors(adapter, {"name": "t", "kind": "carrier_pigeon"}) == ["union_tag_invalid"]


def test_every_declared_target_kind_has_a_propagator_and_mapping_keys() -> None:
    declared = declared_target_kinds()
    assert [k for k in declared if k not in TARGET_KINDS] == [], "declared but no propagator registered"
    assert [k for k in declared if k not in KIND_KEYS] == [], "declared but no KIND_KEYS entry"
    assert [k for k in TARGET_KINDS if k not in declared] == [], "registered but no config model"


def test_a_target_kind_without_a_registration_is_an_error_naming_it() -> None:
    target = RestTarget(name="oa", kind="rest", base_url="http://127.0.0.1:9")
    assert propagator_class(target) is RestPropagator
    partial = {kind: cls for kind, cls in TARGET_KINDS.items() if kind != "rest"}
    with pytest.raises(ConfigError) as caught:
        propagator_class(target, partial)
    assert caught.value.path == "targets/oa.yaml"
    assert "'rest'" in str(caught.value) and "TARGET_KINDS" in str(caught.value)


REQUIRED_BLOCKS = {"sqlserver": {"sqlserver": {"database_names": ["erp"]}},
                   "db2": {"db2": {"driver_jar": "/opt/ibm/jcc.jar"}},
                   "mysql": {"mysql": {"server_id": 5401}}, "mariadb": {"mysql": {"server_id": 5401}}}
URLS = {"sqlserver": "sqlserver://u@h", "oracle": "oracle://u@h/db", "db2": "db2://u@h/db",
        "mysql": "mysql://u@h/erp", "mariadb": "mariadb://u@h/erp"}


def test_declared_source_kinds_are_the_connectors_the_schema_accepts() -> None:
    declared = declared_source_kinds()
    assert declared
    for connector in declared:  # with the block a connector requires (source_connectors.py)
        SourceSpec(name="erp", url=URLS.get(connector, "postgresql://u@h/db"),
                   connector=connector, **REQUIRED_BLOCKS.get(connector, {}))
    with pytest.raises(ValidationError):
        SourceSpec(name="erp", url="postgresql://u@h/db", connector="carrier_pigeon")


def test_every_declared_source_kind_has_a_capture() -> None:
    declared = declared_source_kinds()
    assert [k for k in declared if k not in SOURCE_KINDS] == [], "declared but no capture registered"
    assert [k for k in SOURCE_KINDS if k not in declared] == [], "registered but not accepted in cdc/"


def test_a_source_kind_without_a_registration_is_an_error_naming_it() -> None:
    spec = SourceSpec(name="erp", url="postgresql://u@h/db", connector="postgresql")
    assert source_kind(spec) is SOURCE_KINDS["postgresql"]
    with pytest.raises(ConfigError) as caught:
        source_kind(spec, {})
    assert caught.value.path == "cdc/erp.yaml"
    assert "'postgresql'" in str(caught.value) and "SOURCE_KINDS" in str(caught.value)


def test_a_database_kind_without_a_registration_is_not_read_but_noted() -> None:
    probe = Probe("target crm_db", "targets/crm_db.yaml", None, "mssql+pyodbc://u@127.0.0.1:9/crm",
                  ("crm.partner",), ())
    with pytest.raises(NoCatalogReader, match="no catalog reader for mssql"):
        read_catalog(probe)


def test_a_mysql_database_has_a_catalog_reader() -> None:
    """MySQL (and MariaDB) are read (mdm/capture/mysql_catalog.py): a server that is not there
    is a database that cannot be read, not one without a reader."""
    probe = Probe("target crm_db", "targets/crm_db.yaml", None, "mysql+pymysql://u@127.0.0.1:9/crm",
                  ("crm.partner",), ())
    with pytest.raises(CatalogUnavailable, match="cannot read the database") as caught:
        read_catalog(probe)
    assert not isinstance(caught.value, NoCatalogReader)


def test_every_feed_kind_the_schema_accepts_has_a_registration() -> None:
    from mdm.capture.feeds import FEED_KINDS
    from mdm.config.feeds import FEED_SPECS

    assert FEED_SPECS
    assert [k for k in FEED_SPECS if k not in FEED_KINDS] == [], "declared but nothing reads it"
    assert [k for k in FEED_KINDS if k not in FEED_SPECS] == [], "registered but not accepted in cdc/"


def test_a_feed_kind_without_a_registration_is_an_error_naming_it() -> None:
    from mdm.capture.feeds import FEED_KINDS, feed_kind
    from mdm.config.feeds import FEED_SPECS

    kind = next(iter(FEED_SPECS))
    spec = FEED_SPECS[kind].model_construct(name="saas", kind=kind)
    assert feed_kind(spec) is FEED_KINDS[kind]
    with pytest.raises(ConfigError) as caught:
        feed_kind(spec, {})
    assert caught.value.path == "cdc/saas.yaml"
    assert repr(kind) in str(caught.value) and "FEED_KINDS" in str(caught.value)
