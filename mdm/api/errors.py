"""The API's one translation of errors into answers, installed once by `create_app`.

A use case's refusal (mdm.errors.RequestError) is answered with the status of its class —
NotFound 404, Conflict 409, InvalidRequest 400, InvalidParameter 422, Unauthorized 401,
Forbidden 403 — a TransientError with 503 and Retry-After, a TerminalError with 409; the body
is always `{"detail": message}`, as for FastAPI's own errors. Database trouble a caller can
act on gets its status too (a full pool, a statement timeout, a value PostgreSQL cannot take,
a broken uniqueness rule), never a 500. Route handlers raise; they never pick a status from
an error's text.
"""
from __future__ import annotations

import logging

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mdm.errors import (
    Conflict,
    Forbidden,
    InvalidParameter,
    InvalidRequest,
    MdmError,
    NotFound,
    RequestError,
    TerminalError,
    TransientError,
    Unauthorized,
)
from mdm.runtime.settings import ApiLimits

logger = logging.getLogger(__name__)

# The status of each class; an error takes the one of its nearest class here (by its MRO).
STATUS: dict[type, int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidParameter: 422,
    InvalidRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    RequestError: 400,
    TransientError: 503,
    TerminalError: 409,
}
HEADERS: dict[type, dict[str, str]] = {
    Unauthorized: {"WWW-Authenticate": "Bearer"},
    TransientError: {"Retry-After": "1"},
}


def status_of(error: MdmError) -> int:
    """The HTTP status for `error`: that of its nearest class in STATUS, else 500."""
    return next((STATUS[c] for c in type(error).__mro__ if c in STATUS), 500)


def answer(error: MdmError) -> JSONResponse:
    """`{"detail": message}` with the error's status (and its headers)."""
    headers = next((HEADERS[c] for c in type(error).__mro__ if c in HEADERS), None)
    return JSONResponse({"detail": str(error)}, status_code=status_of(error), headers=headers)


def install_error_handlers(app: FastAPI, limits: ApiLimits) -> None:
    """Register the handlers: mdm's own errors, then database trouble (a full pool or a
    statement past the timeout is 503, a value PostgreSQL cannot take 422, a change that breaks
    a uniqueness or reference rule 409: it was rolled back)."""

    def mdm_error(request: Request, error: BaseException) -> JSONResponse:
        assert isinstance(error, MdmError)
        response = answer(error)
        if response.status_code >= 500:
            logger.error("unmapped error path=%s error=%s: %s", request.url.path,
                         type(error).__name__, error, exc_info=error)
        elif isinstance(error, TransientError):
            logger.warning("transient error path=%s: %s", request.url.path, error)
        return response

    def busy(detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})

    def unstorable(error: BaseException) -> JSONResponse:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return JSONResponse({"detail": f"a value cannot be stored or compared: {first}"},
                            status_code=422)

    def database_error(request: Request, error: BaseException) -> JSONResponse:
        cause = getattr(error, "orig", None) or error
        if isinstance(cause, psycopg.errors.QueryCanceled):
            logger.warning("statement timeout path=%s timeout_ms=%d", request.url.path,
                           limits.statement_timeout_ms)
            return busy(f"the query ran longer than {limits.statement_timeout_ms} ms "
                        "(MDM_API_STATEMENT_TIMEOUT_MS); narrow it or try again")
        if isinstance(cause, psycopg.DataError):
            return unstorable(cause)
        if isinstance(cause, psycopg.IntegrityError):  # nothing was changed: rolled back
            logger.warning("integrity conflict path=%s error=%s", request.url.path,
                           str(cause).splitlines()[0])
            return JSONResponse({"detail": "this conflicts with what is stored, nothing was "
                                 f"changed: {str(cause).splitlines()[0]}"}, status_code=409)
        raise error

    def pool_full(request: Request, error: BaseException) -> JSONResponse:
        logger.warning("api pool exhausted path=%s pool_size=%d", request.url.path,
                       limits.pool_size)
        return busy(f"the API is busy: all {limits.pool_size} hub connections are in use "
                    "(MDM_API_POOL_SIZE); try again")

    app.add_exception_handler(MdmError, mdm_error)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, pool_full)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, database_error)
    app.add_exception_handler(psycopg.Error, database_error)
