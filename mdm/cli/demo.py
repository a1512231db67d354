"""`mdm demo`: the whole product on the embedded default, `mdm demo sql` to edit its ERP and
`mdm demo oa …` (mdm/cli/demo_oa.py) for purchase requests in its OA, `mdm demo erp …` and
`mdm demo wms …` (mdm/cli/demo_receipts.py) for releasing and receiving purchase orders."""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mdm.cli.main import configure_logging, console
from mdm.demo.journey import SCRIPTED_EDITS, Journey, follow, run_edit
from mdm.demo.stock import open_deliveries
from mdm.demo.sync import erp_main_rows, sync_progress
from mdm.errors import MdmError
from mdm.runtime.settings import demo_state

if TYPE_CHECKING:
    from mdm.demo.stack import DemoStack

demo_app = typer.Typer(help="Run the demo: embedded PostgreSQL, demo ERP/OA/WMS, the hub, "
                       "scripted edits, each business flow (1-7) once; then act as the "
                       "systems' users yourself (oa, erp, wms).")
STATE_DIR = Path(".mdm") / "demo"


@demo_app.callback(invoke_without_command=True)
def demo(ctx: typer.Context,
         fresh: Annotated[bool, typer.Option("--fresh", help="Delete the demo's data and start over.")] = False,
         edits: Annotated[bool, typer.Option(help="Make the scripted ERP edits.")] = True,
         port: Annotated[int, typer.Option(help="API port (0: a free one).")] = 8700,
         record_svg: Annotated[Path | None, typer.Option(help="Save the printed journey as SVG.")] = None,
         mq: Annotated[str | None, typer.Option(
             "--mq", help="A RabbitMQ for flow 7 (WMS stock levels → ERP), e.g. "
             "amqp://user:pw@host:5672/: the demo's project gets the erp_mq target and the ERP "
             "its stock consumer. Without it the demo tries amqp://guest:guest@127.0.0.1:5672/ "
             "(1 s) and uses it if it answers; else the levels stay in the hub.")] = None,
         oa: Annotated[str, typer.Option(
             "--oa", help="How the hub reads the demo OA's purchase requests: database (capture "
             "its database, the default) or saas (the SaaS way: polled from its HTTP API, and "
             "each approval calls the hub back in 钉钉's callback format).")] = "database"
         ) -> None:
    """Start everything, show scripted ERP edits travelling to OA and WMS and each business
    flow (1-7) once, timed step by step; run until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from mdm.demo.stack import DemoStack

    configure_logging("WARNING")
    stack = DemoStack(STATE_DIR, api_port=port)  # 0: a free port, chosen once OA and WMS hold theirs
    mq = mq or _default_broker()
    if mq:
        from mdm.demo.stock import project_with_erp_mq

        stack.project_dir = project_with_erp_mq(stack.project_dir, stack.state_dir / "project")
        stack.erp_mq_url = mq
    _choose_oa_mode(stack, oa)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        _start(stack, fresh)
        _wait_initial_sync(stack, stop)
        if edits and not stop.is_set():
            _scripted_edits(stack)
        _print_howto(stack)
        _print_logins(stack)
        if record_svg:
            console.save_svg(str(record_svg), title="mdm demo")
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping the demo …")
        stack.stop()
        (STATE_DIR / "demo.json").unlink(missing_ok=True)


def _default_broker() -> str | None:
    """The machine's RabbitMQ at its default address, if one answers within about a second
    (flow 7 runs on it, as with --mq); None, and nothing waits for it, if not."""
    from mdm.demo.stock import DEFAULT_MQ_URL, broker_answers

    if not broker_answers(DEFAULT_MQ_URL):
        return None
    console.print(f"[green]✓[/green] a RabbitMQ answers at {DEFAULT_MQ_URL}: flow 7 (WMS stock → "
                  "ERP) runs on it, as with --mq", highlight=False)
    return DEFAULT_MQ_URL


def _choose_oa_mode(stack: DemoStack, oa: str) -> None:
    from mdm.demo.saas import OA_MODES, project_with_saas_oa

    if oa not in OA_MODES:
        raise typer.BadParameter(f"--oa {oa}: one of {', '.join(OA_MODES)}")
    if oa == "saas":
        stack.project_dir = project_with_saas_oa(stack.project_dir,
                                                 stack.state_dir / "project-saas")
        stack.oa_mode = oa
        console.print("[green]✓[/green] OA the SaaS way: purchase requests polled from its API "
                      "(cdc/oa_api.yaml), approvals called back 钉钉-style to "
                      "/api/v1/webhooks/oa_approvals (cdc/oa_approvals.yaml)", highlight=False)


def _start(stack: DemoStack, fresh: bool) -> None:
    with console.status("starting embedded PostgreSQL (wal_level=logical) and seeding the demo ERP …"):
        counts = stack.start_databases(fresh=fresh)
    console.print(f"[green]✓[/green] PostgreSQL on 127.0.0.1:{stack.pg.port}, data in {stack.pg.data_dir}")
    if counts:
        console.print("  demo ERP: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    with console.status("starting demo OA and WMS and the ERP's REST API …"):
        stack.start_targets()
    console.print(f"[green]✓[/green] demo OA {stack.oa_url}   demo WMS {stack.wms_url}   "
                  f"ERP API {stack.erp_api_url}")
    if stack.erp_mq_url:
        with console.status("starting the ERP's stock consumer (flow 7) …"):
            stack.start_stock_consumer()
        console.print("[green]✓[/green] ERP stock consumer on queue erp.stock.levels "
                      "(WMS wms_stock → hub → RabbitMQ → ERP erp_stock)")
    with console.status("starting the hub: migrations, Debezium (JVM), processing, propagation, API …"):
        stack.start_hub()
    stack.write_state()
    console.print(f"[green]✓[/green] hub API {stack.api_url}  (logs in {stack.state_dir})")


def _wait_initial_sync(stack: DemoStack, stop: threading.Event) -> None:
    from mdm.config.loader import load_project

    project = load_project(stack.project_dir)
    rows = erp_main_rows(stack.erp_url)
    total = sum(rows.values())
    acks = sum(n * len(project.entities[e].targets) for e, n in rows.items() if e in project.entities)
    # a run with a broker may have left deliveries to erp_mq open; without the target nothing
    # takes them: they are not what this wait is for
    stale = 0 if "erp_mq" in project.targets else open_deliveries(stack.hub_url, "erp_mq")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        golden = progress.add_task("snapshot → golden records", total=total)
        acked = progress.add_task(f"golden → acks by {', '.join(sorted(project.targets))}",
                                  total=acks)
        while not stop.is_set():
            g, a, o = sync_progress(stack.hub_url)
            o -= stale
            progress.update(golden, completed=min(g, total))
            progress.update(acked, completed=min(a, acks))
            if g >= total and o == 0 and a > 0:
                break
            time.sleep(0.3)


def _scripted_edits(stack: DemoStack) -> None:
    from mdm.config.loader import load_project

    project = load_project(stack.project_dir)
    console.print("\n[bold]Scripted ERP edits[/bold] (each line: ERP commit → golden version → target acks)")
    for edit in SCRIPTED_EDITS:
        tx = run_edit(stack.erp_url, edit.sql)
        journey = follow(stack.hub_url, Journey(edit.title, tx),
                         lambda e: sorted(project.entities[e].targets))
        console.print(_journey_line(journey), highlight=False)
    _steward_scenarios(stack)
    _flow_scenarios(stack)


def _flow_scenarios(stack: DemoStack) -> None:
    from mdm.demo.finance_journeys import expense_claim, purchase_payment  # flows 5 and 6
    from mdm.demo.flow_journeys import chain_line, purchase_approval, purchase_receipt

    console.print("\n[bold]Business flows[/bold] (each step: the user's action → the next "
                  "system shows it; flows/*.yaml)")
    oa_db = stack.pg.url("oa")
    chain = purchase_approval(stack.oa_url, stack.erp_url, stack.erp_api_url, oa_db)
    chain = purchase_receipt(chain, stack.wms_url, stack.erp_url, stack.pg.url("wms"), oa_db)
    chain = purchase_payment(chain, stack.oa_url, stack.erp_url, oa_db)
    console.print(chain_line(chain), highlight=False)
    if stack.oa_mode == "saas" and chain.numbers.get("request"):
        from mdm.demo.saas import approval_callbacks

        console.print(approval_callbacks(stack.hub_url, chain.numbers["request"]),
                      highlight=False, soft_wrap=True)
    if chain.numbers.get("request"):
        console.print(f"    the whole chain: mdm trace purchase_request {chain.numbers['request']}"
                      f"   (or {stack.api_url}/trace/purchase_request/{chain.numbers['request']})",
                      highlight=False)
    _warehouse_scenarios(stack)
    console.print(chain_line(expense_claim(stack.oa_url, stack.erp_url, stack.erp_api_url,
                                           oa_db)), highlight=False)
    _stock_scenario(stack)


def _warehouse_scenarios(stack: DemoStack) -> None:
    """Flows 3 and 4 (mdm/demo/warehouse_journeys.py)."""
    from mdm.demo.flow_journeys import chain_line
    from mdm.demo.warehouse_journeys import production_picking, sales_outbound

    wms_db = stack.pg.url("wms")
    picking = production_picking(stack.erp_url, stack.erp_api_url, stack.wms_url, wms_db,
                                 stack.hub_url)
    console.print(chain_line(picking), highlight=False)
    console.print(chain_line(sales_outbound(stack.erp_url, stack.erp_api_url, stack.wms_url,
                                            wms_db)), highlight=False)


def _stock_scenario(stack: DemoStack) -> None:
    """Flow 7, where the ERP's broker is there; else the one line saying what it needs."""
    if not stack.erp_mq_url:
        console.print("  [bold]flow 7 (WMS stock → ERP over RabbitMQ) needs a broker:[/bold] "
                      "mdm demo --mq amqp://…", highlight=False, soft_wrap=True)
        return
    from mdm.demo.flow_journeys import chain_line
    from mdm.demo.warehouse_journeys import stock_level

    console.print(chain_line(stock_level(stack.pg.url("wms"), stack.erp_url, stack.hub_url)),
                  highlight=False)


def _steward_scenarios(stack: DemoStack) -> None:
    from mdm.demo.stewardship import bad_erp_edit, hand_edit_in_oa

    console.print("\n[bold]Rules at work[/bold] (each line: the edit → the task it opened)")
    for scenario in (bad_erp_edit(stack.erp_url, stack.hub_url),
                     hand_edit_in_oa(stack.pg.url("oa"), stack.hub_url)):
        if scenario.task is None:
            line = "[red]no task after 30 s[/red] — see 'mdm status' and the hub log"
        else:
            line = (f"task #{scenario.task['id']} after {scenario.waited_ms:.0f} ms: "
                    f"{scenario.task['summary']}")
        console.print(f"  [bold]{scenario.title}[/bold]\n    {line}", highlight=False)


def _journey_line(j: Journey) -> str:
    if j.version is None:
        return f"  {j.title}: [red]no golden version after 30 s[/red] — see 'mdm status'"
    parts = [f"ERP commit (tx {j.tx_id})", f"golden {j.entity} {j.business_key} v{j.version} +{j.golden_ms:.0f} ms"]
    for target in j.targets:
        ms = j.acks_ms.get(target)
        parts.append(f"{target.upper()} ack +{ms:.0f} ms" if ms is not None else f"{target.upper()} [red]no ack[/red]")
    return f"  [bold]{j.title}[/bold]\n    " + " → ".join(parts)


def _print_howto(stack: DemoStack) -> None:
    console.print(f"""
[bold]The demo is running.[/bold] Ctrl-C stops it.
  API:          {stack.api_url}/docs   (records: {stack.api_url}/api/v1/records/supplier/S0001)
  Lineage:      {stack.api_url}/records/supplier/S0001/lineage   (where each value came from)
  ERP database: {stack.erp_url}
  OA / WMS:     {stack.oa_url}/api/vendors/S0001   {stack.wms_url}/api/suppliers/S0001
Make an edit of your own (from this folder, in another terminal):
  mdm demo sql "UPDATE supplier SET name = '苏州新名称有限公司' WHERE code = 'S0001'"
  mdm status
Run a business flow yourself (each command prints the numbers the next one takes):
  1 purchase approval (OA → ERP)   mdm demo oa request --vendor S0001 --line M-1002:12.5:3.20
      mdm demo oa submit PR-…;  mdm demo oa approve PR-… --by 王经理;  mdm demo oa show PR-…
  2 purchase receipt (ERP → WMS)   mdm demo erp release 4500…;  mdm demo wms receive 4500… --line 1:12.5:12.5
  3 production picking             mdm demo erp picking-list MO00000001 --release   (→ WMS PK…)
      mdm demo wms show PK…;  mdm demo wms pick PK… --by 拣货员;  mdm demo erp show LL…
  4 sales outbound                 mdm demo erp sales-order --customer C0001 --line M-1002:12:368.50 --release
      mdm demo wms ship OB… --tracking SF1402298765432;  mdm demo erp show SO…
  5 expense claim                  mdm demo oa claim --line 差旅费:1280.50:04403311
      mdm demo oa submit BX-…;  mdm demo oa approve BX-… --by 李总监;  mdm demo erp post-vouchers;  mdm demo erp pay 记-…
  6 purchase payment (after 2)     mdm demo oa approve PAY-… --by 财务总监;  mdm demo oa show PAY-…
  7 stock levels (WMS → ERP)       {_stock_howto(stack)}
The CLI asks the running hub as the user whose token is in MDM_TOKEN (the last line below):
  mdm records supplier S0001
  mdm history supplier S0001                      (every version and what changed)
  mdm lineage supplier S0001 -t wms -f supplier_name   (why WMS shows it: back to the ERP commit)
Work the steward tasks the rules opened in the workbench ({stack.api_url}/, as steward.li),
or with the CLI:
  mdm tasks list
  mdm tasks show N
  mdm tasks resolve N push                      (a divergence: send the golden value again)
  mdm tasks resolve N approve_edited --set tax_id=…   (a quarantined version, corrected)
  mdm tasks resolve N waive --reason "…"        """)


def _stock_howto(stack: DemoStack) -> str:
    if not stack.erp_mq_url:
        return "needs a broker: mdm demo --mq amqp://…"
    return ("mdm demo sql --db wms \"UPDATE wms_stock SET on_hand = 1234.567 WHERE stock_key = "
            "'M-1001@WH01'\"\n      mdm demo sql \"SELECT * FROM erp_stock WHERE material_code = "
            "'M-1001'\"")


def _print_logins(stack: DemoStack) -> None:
    from mdm.steward.users import TOKEN_DAYS

    users, token, revoked = stack.demo_users()
    console.print(f"Demo users, one per role (sign in to the workbench at {stack.api_url}/):")
    for name, role, password in users:
        console.print(f"  {role:<8} {name:<13} password {password}", highlight=False)
    console.print("An admin API token for the CLI and for curl "
                  f"(curl -H \"Authorization: Bearer $MDM_TOKEN\" {stack.api_url}/api/v1/tasks):")
    console.print(f"export MDM_TOKEN={token}", highlight=False, soft_wrap=True)
    if revoked:
        console.print(f"(the token printed on the demo's previous start is revoked; it lives "
                      f"{TOKEN_DAYS} days otherwise — 'mdm users tokens admin' lists them)")


@demo_app.command("sql")
def demo_sql(statement: Annotated[str, typer.Argument(help="SQL to run on the demo ERP.")],
             db: Annotated[str, typer.Option(
                 "--db", help="The demo database: erp, or oa / wms (their own databases, "
                 "e.g. the WMS's stock levels, flow 7).")] = "erp") -> None:
    """Run SQL on the demo ERP started from this folder (one transaction); print any rows."""
    state = demo_state()
    if state is None:
        raise MdmError("no running demo found in this folder (.mdm/demo/demo.json); start 'mdm demo' first")
    urls = {"erp": "erp_url", "oa": "oa_db_url", "wms": "wms_db_url"}
    if db not in urls:
        raise MdmError(f"--db {db}: one of {', '.join(urls)}")
    with psycopg.connect(state[urls[db]]) as conn:
        cur = conn.execute(statement)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
    for row in rows:
        console.print(" | ".join("" if v is None else str(v) for v in row), highlight=False)
    console.print(f"[green]committed[/green] ({cur.rowcount} row(s))")


def register(app: typer.Typer) -> None:
    from mdm.cli.demo_oa import oa_app
    from mdm.cli.demo_receipts import erp_app, wms_app

    demo_app.add_typer(oa_app, name="oa", help=(
        "The running demo's OA as its users work it: purchase requests (request, submit, "
        "approve or reject, show: flow 1), expense claims (claim: flow 5) and payment "
        "requests (approve PAY-…: flow 6)."))
    demo_app.add_typer(erp_app, name="erp", help=(
        "The running demo's ERP as its buyer, planner, sales staff and cashier use it: release "
        "a purchase order (flow 2), make and release picking lists (flow 3), enter and release "
        "sales orders (flow 4), post vouchers and pay (flow 5), show LL…/SO…/CK…."))
    demo_app.add_typer(wms_app, name="wms", help=(
        "The running demo's WMS as its workers use it: receive against a purchase order "
        "(flow 2), pick a pick task (flow 3), ship an outbound order (flow 4), show GR…/ASN…/"
        "PK…/OB…."))
    app.add_typer(demo_app, name="demo")
