"""Typed settings read from the environment (and an optional `.env` file).

Every variable is listed once in `FIELDS` with its default and meaning; the README's
configuration table is generated from the same list (`python -m abacus.config`), so the two
cannot drift. A bad value stops start-up with one line naming the variable and the value.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

ENVIRONMENTS = ("development", "test", "production")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Field:
    name: str
    default: str
    meaning: str


FIELDS: tuple[Field, ...] = (
    Field("ABACUS_ENV", "development if DATABASE_URL is unset, else production",
          "`development`, `test` or `production`. Production refuses a missing SECRET_KEY."),
    Field("SECRET_KEY", "generated into `instance/secret_key` outside production",
          "Signs sessions and CSRF tokens. Required in production."),
    Field("DATABASE_URL", "embedded PostgreSQL under `instance/pg`",
          "PostgreSQL URL (`postgresql://user:pass@host:5432/db`). Unset: start or reuse the "
          "embedded server (needs the `embedded` extra)."),
    Field("REDIS_URL", "embedded Redis under `instance/`",
          "Redis URL for the job queue. Unset: start or reuse the embedded server."),
    Field("ABACUS_TIMEZONE", "UTC",
          "IANA time zone that decides day boundaries (e.g. `Europe/Berlin`). After changing "
          "it run `flask abacus rollups rebuild`."),
    Field("ABACUS_INSTANCE_PATH", "`./instance`",
          "Folder for the generated secret key and the embedded engines' data."),
    Field("ALLOWED_DOMAINS", "none: nobody can sign in (`make run` sets `example.com`)",
          "Comma-separated e-mail domains allowed to sign in."),
    Field("ABACUS_ADMINS", "(none)", "Comma-separated e-mails that get the admin role."),
    Field("ABACUS_DEV_LOGIN", "0 (`make run` sets 1)",
          "1 enables the password-less development sign-in at `/auth/dev-login`. Never in "
          "production."),
    Field("HOST", "127.0.0.1", "Address the web process listens on (`make run`)."),
    Field("PORT", "5000", "Port the web process listens on (`make run`)."),
    Field("TEST_DATABASE_URL", "embedded PostgreSQL",
          "Tests only: server on which `make test` creates a throw-away database."),
    Field("TEST_REDIS_URL", "embedded Redis",
          "Tests only: a Redis database `make test` may empty (e.g. `redis://127.0.0.1:6379/15`)."),
)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected 1/0 (or true/false), got {raw!r}")


def _parse_int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: expected a number from {lo} to {hi}, got {value}")
    return value


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _check_url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in schemes:
        raise ConfigError(f"{name}: expected a URL starting with {' or '.join(schemes)}://")
    return raw


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str | None
    redis_url: str | None
    timezone: str
    instance_path: Path
    allowed_domains: tuple[str, ...]
    admins: tuple[str, ...]
    dev_login: bool
    host: str
    port: int

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None,
             read_dotenv: bool = True) -> Settings:
        """Environment, then `.env` for what the environment leaves unset, then overrides."""
        env: dict[str, str] = {}
        path = Path.cwd() / ".env"
        if read_dotenv and path.is_file():
            env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        env.update(os.environ)
        env.update(overrides or {})
        return cls.from_mapping(env)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str:
            return env.get(name, "").strip()

        database_url = get("DATABASE_URL") or None
        if database_url:
            database_url = _check_url("DATABASE_URL", database_url,
                                      ("postgresql", "postgres", "postgresql+psycopg2"))
        redis_url = get("REDIS_URL") or None
        if redis_url:
            _check_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"))

        abacus_env = get("ABACUS_ENV") or ("production" if database_url else "development")
        if abacus_env not in ENVIRONMENTS:
            raise ConfigError(f"ABACUS_ENV: expected one of {', '.join(ENVIRONMENTS)}, "
                              f"got {abacus_env!r}")

        timezone = get("ABACUS_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"ABACUS_TIMEZONE: {timezone!r} is not a known IANA time zone "
                              "(e.g. UTC, Europe/Berlin)") from None

        instance_path = Path(get("ABACUS_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
        dev_login = _parse_bool("ABACUS_DEV_LOGIN", get("ABACUS_DEV_LOGIN"))
        if dev_login and abacus_env == "production":
            raise ConfigError("ABACUS_DEV_LOGIN: the development sign-in cannot be enabled "
                              "when ABACUS_ENV=production")

        secret_key = get("SECRET_KEY")
        if not secret_key:
            if abacus_env == "production":
                raise ConfigError("SECRET_KEY: required in production (set a long random "
                                  "string, e.g. `python -c 'import secrets; "
                                  "print(secrets.token_hex(32))'`)")
            secret_key = _instance_secret(instance_path)
        elif abacus_env == "production" and len(secret_key) < 16:
            raise ConfigError("SECRET_KEY: too short for production (use at least 16 characters)")

        return cls(
            env=abacus_env,
            secret_key=secret_key,
            database_url=database_url,
            redis_url=redis_url,
            timezone=timezone,
            instance_path=instance_path,
            allowed_domains=_parse_list(get("ALLOWED_DOMAINS")),
            admins=_parse_list(get("ABACUS_ADMINS")),
            dev_login=dev_login,
            host=get("HOST") or "127.0.0.1",
            port=_parse_int("PORT", get("PORT") or "5000", 1, 65535),
        )


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: SQLAlchemy 2.1 would pick psycopg 3 for plain postgresql://."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{rest}"
    return url


def _instance_secret(instance_path: Path) -> str:
    """A per-installation key kept under instance/, so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Write-then-rename so a process starting at the same moment never reads half a key.
    tmp = path.with_name(f".secret_key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # fails if another process won the race; then use its key
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key


def markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{f.name}` | {f.default} | {f.meaning} |" for f in FIELDS]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())  # noqa: T201 - a tool that prints the README table
