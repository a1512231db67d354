"""The steward workbench: server-rendered pages (Jinja2) with a little JavaScript that calls
the same REST API as everyone else. `/login`, `/` (the inbox), `/tasks/{id}`."""
from __future__ import annotations

import json
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection

from mdm.api.auth import READ, SESSION_COOKIE, Caller, caller_of
from mdm.api.chain_drawing import trace_link
from mdm.api.configuration import describe
from mdm.api.database import Db, Id, pooled, raw
from mdm.api.i18n import language, translator
from mdm.errors import Forbidden
from mdm.lineage.queries import history
from mdm.model.deliveries import build_payload
from mdm.model.tasks import TaskFilter
from mdm.steward import audit, change_requests, workbench
from mdm.steward.decisions import ACTIONS
from mdm.steward.signin import SigninFailed, SigninRefused, retry_after
from mdm.steward.users import create_session, end_session, list_tokens, list_users
from mdm.store.repositories import tasks
from mdm.store.repositories.reference_holds import referenced_of

LOGIN_COOKIE = "mdm_login_csrf"
_env = Environment(loader=PackageLoader("mdm.api", "templates"), autoescape=select_autoescape())


def _shown(value: Any) -> str:
    """A golden or copied value as a person reads it: lists and objects as JSON."""
    if value is None:
        return "∅"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_env.filters["shown"] = _shown


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    lang = language(request)
    html = _env.get_template(template).render(t=translator(lang), lang=lang, **context)
    response = HTMLResponse(html)
    if request.query_params.get("lang") == lang:
        response.set_cookie("mdm_lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def _login_form(request: Request, next: str, failed: bool, refused: str | None = None,
                status: int = 200, headers: dict[str, str] | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = _page(request, "login.html", next=_local(next), failed=failed, refused=refused,
                     form_csrf=token)
    response.status_code = status
    response.headers.update(headers or {})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict")
    return response


def _signed_in(request: Request) -> Caller | RedirectResponse:
    caller = caller_of(request)
    if caller is None or caller.who.role not in READ:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return caller


def _admin(request: Request) -> Caller | RedirectResponse:
    """The signed-in admin (a redirect to sign in; 403 for another role)."""
    caller = _signed_in(request)
    if not isinstance(caller, RedirectResponse) and caller.who.role != "admin":
        raise Forbidden(f"{caller.who.username} is a {caller.who.role}; this needs admin")
    return caller


def _local(path: str) -> str:
    """A redirect target on this site only (not //elsewhere.example)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def pinyin_key(value: str) -> tuple[str, ...]:
    """Sort key for names: Chinese by pinyin with tones (长城 before 重庆 before 李四), Latin
    letters among them case-insensitively, full-width folded."""
    from pypinyin import Style, lazy_pinyin

    return tuple(p.casefold() for p in lazy_pinyin(normalised(value), style=Style.TONE3))


def normalised(value: str) -> str:
    """For search: full-width forms folded (Ａ→A, （→(), case ignored."""
    return unicodedata.normalize("NFKC", value).casefold()


def web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/", failed: bool = False) -> Response:
        return _login_form(request, next, failed)

    @router.post("/login")
    def login(request: Request, username: str = Form(), password: str = Form(),
              csrf: str = Form(""), next: str = Form("/")) -> Response:
        """Sign in. No pooled connection is held while the password is checked; failures are
        limited per name and per address (429 with Retry-After; 423 once a name is locked)."""
        if not csrf or csrf != request.cookies.get(LOGIN_COOKIE):
            raise Forbidden("CSRF token missing or wrong: reload the sign-in page", "csrf")
        engine = request.app.state.engine
        address = request.client.host if request.client else "unknown"
        try:
            who = request.app.state.sign_in(lambda: pooled(engine), username, password, address)
        except SigninRefused as exc:
            status = 423 if exc.retry_after_s is None else 429
            return _login_form(request, next, False, str(exc), status, retry_after(exc.retry_after_s))
        except SigninFailed:
            return RedirectResponse(f"/login?failed=1&next={quote(next)}", status_code=303)
        with pooled(engine) as pg:
            cookie, _ = create_session(pg, who)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", max_age=12 * 3600)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @router.post("/logout")
    def logout(request: Request, db: Db, csrf: str = Form("")) -> Response:
        caller = caller_of(request)
        if caller is not None and caller.csrf is not None:
            if csrf != caller.csrf:
                raise Forbidden("CSRF token missing or wrong: reload the page", "csrf")
            end_session(raw(db), request.cookies[SESSION_COOKIE])
            raw(db).commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/", response_class=HTMLResponse)
    def inbox(request: Request, db: Db, type: str | None = None, entity: str | None = None,
              system: str | None = None,
              older_than_h: Annotated[float | None, Query(ge=0, le=24 * 366 * 100)] = None, q: str = "",
              sort: str = "newest") -> Response:
        caller = _signed_in(request)
        if isinstance(caller, RedirectResponse):
            return caller
        project = request.app.state.project
        found = tasks.list_tasks(raw(db), TaskFilter(
            "open", type or None, entity or None, system or None, None, 500, 0))
        if older_than_h:
            cutoff = datetime.now(UTC) - timedelta(hours=older_than_h)
            found = [t for t in found if t["created_at"] <= cutoff]
        if q.strip():
            needle = normalised(q.strip())
            found = [t for t in found
                     if needle in normalised(f"{t['business_key'] or ''} {t['summary']}")]
        names = workbench.record_names(raw(db), [t["golden_id"] for t in found
                                                  if t["golden_id"] is not None])
        for t in found:
            t["name"] = names.get(t["golden_id"], "")
        if sort == "name":
            found.sort(key=lambda t: (pinyin_key(t["name"] or t["business_key"] or ""),
                                      t["business_key"] or ""))  # a draft's task has no key
        elif sort == "key":
            found.sort(key=lambda t: (t["entity"], t["business_key"] or ""))
        counts = tasks.count_open(raw(db))
        return _page(request, "inbox.html", who=caller.who, csrf=caller.csrf, tasks=found,
                     counts=counts, entities=sorted(project.entities), systems=_systems(project),
                     filters={"type": type or "", "entity": entity or "", "system": system or "",
                              "older_than_h": older_than_h or "", "q": q, "sort": sort},
                     now=datetime.now(UTC))

    @router.get("/tasks/{task_id}", response_class=HTMLResponse)
    def task_page(task_id: Id, request: Request, db: Db) -> Response:
        caller = _signed_in(request)
        if isinstance(caller, RedirectResponse):
            return caller
        view = task_view(db, request.app.state.project, task_id)
        return _page(request, "task.html", who=caller.who, csrf=caller.csrf, **view,
                     may_decide=caller.who.role in ("steward", "admin"))

    @router.get("/admin/users", response_class=HTMLResponse)
    def users_page(request: Request, db: Db) -> Response:
        caller = _admin(request)
        if isinstance(caller, RedirectResponse):
            return caller
        people = sorted(list_users(raw(db)), key=lambda u: pinyin_key(u["display_name"] or u["username"]))
        for person in people:
            person["token_list"] = [t for t in list_tokens(raw(db), person["username"])
                                    if t["state"] == "live"]
        return _page(request, "users.html", who=caller.who, csrf=caller.csrf, users=people)

    @router.get("/admin/config", response_class=HTMLResponse)
    def config_page(request: Request, db: Db) -> Response:
        caller = _admin(request)
        if isinstance(caller, RedirectResponse):
            return caller
        return _page(request, "config.html", who=caller.who, csrf=caller.csrf,
                     config=describe(db, request.app.state.project))

    @router.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
        caller = _signed_in(request)
        if isinstance(caller, RedirectResponse):
            return caller
        entries = audit.recent_entries(raw(db), limit)
        return _page(request, "audit.html", who=caller.who, csrf=caller.csrf, entries=entries)

    return router


def _systems(project: Any) -> list[str]:
    return sorted({t for spec in project.entities.values() for t in spec.targets} | {"erp"})


def task_view(db: Connection, project: Any, task_id: int) -> dict[str, Any]:
    """The task with the golden record beside each system's copy, what fired, recent versions
    (NotFound when there is no such task)."""
    task = workbench.find_task(raw(db), task_id)
    record = None if task["golden_id"] is None else workbench.record_of(raw(db), task["golden_id"])
    spec = project.entities.get(task["entity"])
    systems = []
    if record is not None and spec is not None:
        referenced = referenced_of(raw(db), spec, record["attributes"])
        for target, mapping in sorted(spec.targets.items()):
            golden = build_payload(mapping, record["attributes"], record["status"], referenced,
                                   target)
            copy, flagged = _copy(db, task, target, record["id"])
            systems.append({"name": target, "rows": [
                {"field": f, "golden": golden.get(f), "theirs": None if copy is None else copy.get(f),
                 "known": copy is not None and f in copy,
                 "differs": f in flagged if flagged is not None
                 else copy is not None and f in copy and copy.get(f) != golden.get(f)}
                for f in golden]})
    versions = history(db, task["golden_id"], 5) if task["golden_id"] is not None else []
    requests = change_requests.of_task(raw(db), task_id)
    return {"task": task, "record": record, "systems": systems, "versions": versions,
            "change_requests": requests, "trace_href": trace_link(
                project, task["entity"], task["business_key"], task["golden_id"]),
            "actions": ACTIONS.get(task["type"], ()),
            "failed_attributes": sorted({r["attribute"] for r in task.get("rule_results", [])
                                         if r["attribute"] and spec is not None
                                         and r["attribute"] in spec.attributes})}


def _copy(db: Connection, task: dict[str, Any], target: str,
          golden_id: int) -> tuple[dict[str, Any] | None, set[str] | None]:
    """What `target` holds, and which fields differ when the divergence check said so: the
    values a hand edit left there (divergence; compared after its normalisation), else what
    the target last acknowledged (compared as sent)."""
    if task["type"] == "divergence" and task["system"] == target:
        values = task["detail"].get("target_values")
        if isinstance(values, dict):
            return values, {f["field"] for f in task["detail"].get("fields", [])}
    return workbench.acknowledged_copy(raw(db), golden_id, target), None
