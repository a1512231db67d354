"""Entry point of the demo OA and WMS servers' process (and the demo ERP's REST API):
python -m mdm.demo.targets_main OA_DB WMS_DB OA_PORT WMS_PORT [HOST] [--erp-db ERP_DB --erp-port N]
(HOST default 127.0.0.1; the ERP API runs when both --erp-db and --erp-port are given)."""
from __future__ import annotations

import argparse
import logging

from mdm.demo.targets import serve_targets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mdm.demo.targets_main",
                                     description="The demo OA, WMS and ERP REST servers.")
    parser.add_argument("oa_db", help="the OA's database URL")
    parser.add_argument("wms_db", help="the WMS's database URL")
    parser.add_argument("oa_port", type=int)
    parser.add_argument("wms_port", type=int)
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("--erp-db", help="the ERP's database URL (its REST API reads and "
                                         "writes it)")
    parser.add_argument("--erp-port", type=int, default=0, help="the ERP REST API's port")
    args = parser.parse_args(argv)
    if bool(args.erp_db) != bool(args.erp_port):
        parser.error("--erp-db and --erp-port go together")
    logging.basicConfig(level=logging.WARNING)
    serve_targets(args.oa_db, args.wms_db, args.oa_port, args.wms_port, host=args.host,
                  erp_url=args.erp_db, erp_port=args.erp_port)


if __name__ == "__main__":
    main()
