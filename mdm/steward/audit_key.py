"""The audit chain's key ring and its recorded head: the two things the hub keeps outside its
database, so that someone with the database login can neither forge a seal nor hide that the
newest entries were removed (README: "Hardening: an audit log that proves itself")."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from mdm.config.loader import expand_env
from mdm.errors import ConfigError, MdmError
from mdm.runtime.settings import Settings

logger = logging.getLogger(__name__)
KEY_ENV = "MDM_AUDIT_KEY"
MIN_KEY_CHARS = 32
SETUP_HINT = (f"set {KEY_ENV} (or put {KEY_ENV}=… in $MDM_SECRETS_FILE, or point "
              "MDM_AUDIT_KEY_FILE at a file with one key per line, the newest last); "
              "e.g. `openssl rand -hex 32`")


def key_id(key: bytes) -> str:
    """A fingerprint that names a key in seals and messages without revealing it."""
    return hmac.new(key, b"mdm audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    """The current key (new seals) and retired ones (only to verify older seals)."""

    keys: dict[str, bytes]
    current_id: str
    source: str  # where the keys came from, for messages (never a key)

    def mac(self, kid: str, text: str) -> str:
        return hmac.new(self.keys[kid], text.encode("utf-8"), hashlib.sha256).hexdigest()


def load_ring(settings: Settings, create: bool = False) -> KeyRing | None:
    """Keys from the key file (one per line, the newest last) and $MDM_AUDIT_KEY (or the
    secrets file; then it is the current one). None if there is none, unless `create`: then a
    new key is generated into the key file (mode 0600) and a warning says where."""
    path = settings.audit_key_path
    keys = _read_key_file(path)
    from_env = _from_environment()
    if from_env is not None:
        keys.append(from_env)
    if not keys:
        if not create:
            return None
        _generate(path)
        keys = _read_key_file(path)
    for key in keys:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(KEY_ENV if key == from_env else str(path), [
                f"an audit key must have at least {MIN_KEY_CHARS} characters; {SETUP_HINT}"])
    ring = {key_id(k.encode()): k.encode() for k in keys}
    sources = [str(path)] if path.exists() else []
    if from_env is not None:
        sources.append(KEY_ENV)
    return KeyRing(ring, key_id(keys[-1].encode()), " and ".join(sources))


def _from_environment() -> str | None:
    try:
        value = expand_env("${" + KEY_ENV + "}", KEY_ENV).strip()
    except ConfigError:
        return None
    return value or None


def _read_key_file(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(str(path), [f"the audit key file may be read by others (mode "
                                      f"{stat.S_IMODE(mode):o}): chmod 600 {path}"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"the audit key file cannot be read ({exc.strerror})"]) from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _generate(path: Path) -> None:
    """A new random key in `path`, created atomically: several roles starting at once agree on
    one key (the first link wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(fresh, path)
        _fsync_dir(path.parent)
        logger.warning("audit key generated path=%s: no audit key was set, so the hub made one "
                       "(mode 0600). Keep a copy away from this machine and the database: "
                       "without it 'mdm audit verify' cannot prove the log. To choose your own, %s",
                       path, SETUP_HINT)
    except FileExistsError:
        pass  # another role made it first: use theirs
    finally:
        fresh.unlink()


@dataclass(frozen=True)
class Head:
    """The newest sealed entry, as recorded outside the database after each seal."""

    seq: int
    mac: str
    key_id: str
    sealed_at: str


def read_head(path: Path) -> Head | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MdmError(f"the audit head file {path} cannot be read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
        return Head(int(data["seq"]), str(data["mac"]), str(data["key_id"]), str(data["sealed_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise MdmError(f"the audit head file {path} is not a head the hub wrote: {exc}") from exc


def write_head(path: Path, head: Head) -> None:
    """Replace the recorded head atomically (write, fsync, rename, fsync the folder): a crash
    leaves the old head or the new one, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    with fresh.open("w", encoding="utf-8") as f:
        f.write(json.dumps(asdict(head)) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(fresh, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
