"""Addresses from the project files (`url:`, `base_url:`), as every stage reads them: masked for
logs, errors and the configuration page, and split into hosts where a URL names several
(`nats://a:4222,b:4222`, libpq's `postgresql://u:pw@a:5432,b:5432/db`).

Nothing here raises on an odd URL: a mask that fails would print the secret it was meant to
hide, so an unparseable address is masked as a whole.
"""
from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"
# Query (and fragment) parameters whose value is a secret, by the end of their name once
# lower-cased with everything but letters and digits removed: password, access_token,
# client_secret, api_key, apikey, X-Amz-Signature, sslpassword …
SECRET_SUFFIXES = ("password", "passwd", "pwd", "pass", "token", "secret", "key", "signature",
                   "sig", "credential", "credentials", "auth", "authorization", "jwt", "nkey")
# Schemes whose user part alone (no password) is a token, not a user name (nats://TOKEN@host).
TOKEN_USER_SCHEMES = frozenset({"nats", "tls", "ws", "wss", "http", "https"})
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
# `password=…` and friends in free text (a DSN in a driver's error, a header in an echo).
SECRET_IN_TEXT = re.compile(
    r"(?i)\b([\w-]*(?:password|passwd|pwd|token|secret|api[_-]?key|apikey|access[_-]?key|"
    r"signature|credentials?))(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)")
REFERENCE = re.compile(r"\$\{[^}]+\}")
BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}")


def is_secret_name(name: str) -> bool:
    folded = re.sub(r"[^a-z0-9]", "", name.lower())
    return bool(folded) and folded.endswith(SECRET_SUFFIXES)


def _masked(value: str) -> str:
    """*** for a secret value; a reference to one (`${OA_TOKEN}`, as written in a project
    file) is shown: it names the secret, it is not the secret."""
    return value if REFERENCE.fullmatch(value) else MASK


def _mask_params(text: str) -> str:
    """`a=1&password=x;token=y` → `a=1&password=***;token=***`, everything else verbatim."""
    def one(part: str) -> str:
        name, sep, value = part.partition("=")
        return f"{name}={_masked(value)}" if sep and is_secret_name(name) else part

    return "".join(one(p) if p not in ("&", ";") else p for p in re.split(r"([&;])", text))


def _mask_userinfo(scheme: str, userinfo: str) -> str:
    user, sep, password = userinfo.partition(":")
    if sep:
        return f"{user}:{_masked(password)}"
    return _masked(user) if scheme.lower() in TOKEN_USER_SCHEMES else user


def _redact_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced '[' of an IPv6 host: show nothing of it
        return f"{MASK} (an address that cannot be read)"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{_mask_userinfo(parts.scheme, userinfo)}@{hosts}" if at else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, query=_mask_params(parts.query),
                                     fragment=_mask_params(parts.fragment)))


def redact(url: str) -> str:
    """A URL fit for a log line, an error or a page: passwords, tokens in the user part and
    secret query parameters replaced by ***. Several hosts (`a:1,b:2`) and comma-separated
    lists of whole URLs (`nats://u:p@a:4222,nats://u:p@b:4222`) are kept as written."""
    pieces = url.split(",")
    if len(pieces) > 1 and any("://" in p for p in pieces[1:]):
        return ",".join(_redact_one(p.strip()) if "://" in p else p for p in pieces)
    return _redact_one(url)


def mask_secrets(text: str) -> str:
    """Free text (a target's error, a driver's message) with every URL redacted and
    `password=…`, `token: …`, `Bearer …` values masked."""
    text = URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
    text = SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return BEARER_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def hosts(url: str) -> list[tuple[str, int | None]]:
    """(host, port) of each host a URL names, in order: `nats://a:4222,b:4223` and libpq's
    `postgresql://u@a:5432,b/db` give two. A port that is not a number is None."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    out = []
    for item in netloc.split(","):
        item = item.strip()
        if item.startswith("["):  # [::1]:5432
            host, _, rest = item[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = item.partition(":")
        out.append((host, int(port_text) if port_text.isdigit() else None))
    return out


def libpq_multi_host_to_sqlalchemy(url: str) -> str:
    """libpq's several-hosts form (`postgresql+psycopg://u:pw@a:5432,b:5433/db`), which
    SQLAlchemy cannot parse, as SQLAlchemy's (`…@/db?host=a:5432&host=b:5433`); any other
    URL unchanged."""
    parts = urlsplit(url)
    userinfo, at, netloc = parts.netloc.rpartition("@")
    if "," not in netloc:
        return url
    listed = "&".join("host=" + quote(f"{h}:{p}" if p else h, safe="") for h, p in hosts(url))
    query = f"{listed}&{parts.query}" if parts.query else listed
    return urlunsplit(parts._replace(netloc=f"{userinfo}@" if at else "", query=query))
