"""The one MetaData every hub table is declared on (mdm/store/tables/*.py)."""
from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
