"""Entry point of the demo OA and WMS servers' process:
python -m mdm.demo.targets_main OA_DB WMS_DB OA_PORT WMS_PORT [HOST]  (HOST default 127.0.0.1)."""
from __future__ import annotations

import logging
import sys

from mdm.demo.targets import serve_targets

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    host = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
    serve_targets(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), host=host)
