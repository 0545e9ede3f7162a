"""Server configuration: a TOML file (`pyruntime.toml`) or the `serve` command's flags.

Errors name the file, the key and the problem, and are raised at start, before anything
is served: a typo in a limit must not surface as a 500 at the first request.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.egress import EgressConfigError, EgressPolicy
from ..engine.errors import Error
from ..engine.limits import LimitError, Limits
from .crons import check_crons

_NAME_RULE = "letters, digits, '_', '.', '-'"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Error):
    """The configuration is invalid; the message names the file and key."""


def _seconds(name: str, value: Any, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 < value <= maximum:
        raise LimitError(name, f"{name} must be a finite number in (0, {maximum:g}]; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AppLimits(Limits):
    """Per-request limits of one app: the isolate's (`Limits`; `total_timeout_ms` bounds the
    whole request, waits included) plus what the server bounds around it:

    - `max_body_mb`: the largest request body accepted (413 past it);
    - `max_buffered_body_mb`: the request-body bytes the app holds at once in a worker, across
      its requests (503 with Retry-After past it; never less than `max_body_mb`): one body is
      bounded, and this bounds how many arrive together (`body_budget.py`);
    - `body_timeout_s`: time to receive the whole request body (408 past it: a trickling
      client cannot hold a connection and its buffer);
    - `stream_idle_timeout_s` / `stream_timeout_s`: the longest wait for one chunk of a streamed
      response, and the longest a streamed response may last; past either the stream is
      cancelled and the connection closed;
    - `stream_cpu_ms`: the CPU time the reads of a streamed response's body may use together
      (each read is a call under `cpu_limit_ms`), cut off the same way past it. Without it one
      stream whose `pull` ran 49 ms of JS per chunk held a core for all of `stream_timeout_s`.
      A read of a chunk JS makes costs about 15 µs of it, of a proxied body's chunk more (a
      200 MB body from `fetch` took 240 ms): the default passes some 130,000 chunks, or a
      1.6 GB proxied body;
    - `max_subrequests`, `max_concurrent_subrequests`, `subrequest_timeout_s`: outbound fetch
      per request (engine.host_ops.FetchLimits).
    """

    max_body_mb: float = 10.0
    max_buffered_body_mb: float = 64.0
    body_timeout_s: float = 30.0
    stream_idle_timeout_s: float = 60.0
    stream_timeout_s: float = 900.0
    stream_cpu_ms: float = 2000.0
    max_subrequests: int = 50
    max_concurrent_subrequests: int = 16
    subrequest_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_body_mb", "max_buffered_body_mb"):
            object.__setattr__(self, name, _seconds(name, getattr(self, name), 4096))
        for name in ("body_timeout_s", "stream_idle_timeout_s", "stream_timeout_s", "subrequest_timeout_s"):
            object.__setattr__(self, name, _seconds(name, getattr(self, name), 86_400))
        object.__setattr__(self, "stream_cpu_ms", _seconds("stream_cpu_ms", self.stream_cpu_ms, 3_600_000))
        for name in ("max_subrequests", "max_concurrent_subrequests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
                raise LimitError(name, f"{name} must be an integer from 1 to 100000; got {value!r}")

    @property
    def request_timeout_s(self) -> float | None:
        return self.total_timeout_s

    @property
    def stream_cpu_budget_ms(self) -> float:
        """The CPU time a streamed body's reads may use together: `stream_cpu_ms`, never less
        than what one call may use (`cpu_limit_ms`, as a wrangler.toml's `cpu_ms` sets it)."""
        return max(self.stream_cpu_ms, self.cpu_limit_ms or 0.0)

    @property
    def max_body_bytes(self) -> int:
        """The largest request body accepted, in bytes (413 past it)."""
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def buffered_body_bytes(self) -> int:
        """The app's body budget in bytes: one body of `max_body_mb` always fits."""
        return int(max(self.max_buffered_body_mb, self.max_body_mb) * 1024 * 1024)


@dataclass(frozen=True)
class Route:
    """Where an app is served: a path pattern ("/api/*" or "/exact"), optionally on a host."""

    host: str | None
    path: str
    prefix: bool

    @classmethod
    def parse(cls, text: str) -> Route:
        """"/api/*", "example.com", "*.example.com", "example.com/api/*"; raises ValueError."""
        host, slash, path = text.partition("/")
        path = slash + path if slash else "/*"
        if host:
            host = host.lower()
            if not _HOST.match(host):
                raise ValueError(f"invalid host name {host!r}")
        prefix = path.endswith("/*")
        if prefix:
            path = path[:-2]
        if "*" in path or not path.startswith("/") and path:
            raise ValueError(f"invalid path pattern in {text!r}: use '/prefix/*' or an exact '/path'")
        return cls(host or None, path, prefix)

    def matches(self, host: str, path: str) -> bool:
        if self.host is not None:
            if self.host.startswith("*."):
                if not host.endswith(self.host[1:]):
                    return False
            elif host != self.host:
                return False
        if self.prefix:
            return path == self.path or path.startswith(self.path + "/") or not self.path
        return path == self.path

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: a host beats no host, an exact host beats a wildcard, longer paths win."""
        return (self.host is not None, self.host is not None and not self.host.startswith("*."),
                len(self.path), not self.prefix)


@dataclass(frozen=True)
class AppConfig:
    """One worker app: its script, where it is served, its env and limits."""

    name: str
    script: Path
    routes: tuple[Route, ...] = (Route(None, "", True),)
    env: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    limits: AppLimits = AppLimits()
    pool_size: int | None = None
    # The most isolates the pool grows to while requests queue (server/pool.py `pool_bounds`).
    max_pool_size: int | None = None
    max_queue: int = 64
    # Where the app's outbound fetch may connect ([apps.egress]); None: public addresses only,
    # or the deprecated `outbound_hosts` as its allow list (server/outbound.py).
    egress: EgressPolicy | None = None
    outbound_hosts: tuple[str, ...] | None = None
    # "process" or "shared"; None follows the server (see isolation_of).
    isolation: str | None = None
    # The folder imports may reach (node_modules included); None: the script's folder.
    root: Path | None = None
    # Cron expressions on which the app's `scheduled` handler runs (scheduler.py).
    crons: tuple[str, ...] = ()

    def resolved_env(self) -> dict[str, Any]:
        """Plain values plus secrets read from the process environment (checked at load)."""
        return {**self.env, **{name: os.environ[name] for name in self.secrets}}


@dataclass(frozen=True)
class ServerConfig:
    """Everything `serve` needs; `metrics_path` and `health_path` are reserved before app routes."""

    apps: tuple[AppConfig, ...]
    host: str = "127.0.0.1"
    port: int = 8787
    workers: int = 1
    metrics_path: str = "/metrics"
    health_path: str = "/healthz"
    isolation: str | None = None
    # Dev only (`serve --test-scheduled`): GET /__scheduled?cron=... runs scheduled handlers.
    test_scheduled: bool = False

    def graceful_timeout_s(self) -> float:
        """How long SIGTERM waits for in-flight requests: the longest request, plus a margin."""
        return max((app.limits.request_timeout_s or 30.0 for app in self.apps), default=30.0) + 5.0


def isolation_of(config: ServerConfig, app: AppConfig) -> str:
    """The app's own setting, else the server's, else "process" when there are other apps to protect.

    An app with crons stays in the worker: the scheduler runs its handler on the worker's pool.
    """
    if app.crons:
        return "shared"
    return app.isolation or config.isolation or ("process" if len(config.apps) > 1 else "shared")


class _Checker:
    """Reads typed values out of TOML tables with errors naming the file and key."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {key}: {problem}")

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_describe(value)}")
        for name in value:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else name,
                                f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        return value

    def string(self, table: dict[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = table.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{key}.{name}" if key else name,
                            "is required" if value is None else f"expected a non-empty string, got "
                            f"{_describe(value)}")
        return value

    def number(self, table: dict[str, Any], key: str, name: str, default: float | None, *,
               integer: bool = False, minimum: float = 0, can_be_off: bool = False) -> Any:
        if name not in table:
            return default
        value = table[name]
        full = f"{key}.{name}"
        if can_be_off and (value is False or value == "off"):
            return None
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            expected = "an integer" if integer else "a number"
            off = " or \"off\"" if can_be_off else ""
            raise self.fail(full, f"expected {expected}{off}, got {_describe(value)}")
        if not math.isfinite(value):
            raise self.fail(full, f"must be a finite number, got {value}")
        if value < minimum or (minimum == 0 and value == 0):
            bound = f">= {minimum}" if minimum else "> 0"
            raise self.fail(full, f"must be {bound}, got {value}")
        return value


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _path(checker: _Checker, table: dict[str, Any], name: str, default: str) -> str:
    value = checker.string(table, "server", name, default)
    if not value.startswith("/") or value.endswith("/") and value != "/" or "*" in value:
        raise checker.fail(f"server.{name}", f"expected an absolute path like {default!r}, got {value!r}")
    return value


def _isolation(checker: _Checker, table: dict[str, Any], key: str) -> str | None:
    """`isolation`: "process" (the app in an engine process of its own) or "shared" (in the worker)."""
    value = table.get("isolation")
    if value is not None and value not in ("process", "shared"):
        raise checker.fail(f"{key}.isolation", f"expected \"process\" or \"shared\", got {_describe(value)}")
    if value == "process" and table.get("crons"):
        raise checker.fail(f"{key}.isolation", "an app with crons runs in the worker process: use \"shared\"")
    return value


def _limits(checker: _Checker, value: Any, key: str) -> AppLimits:
    """`[apps.limits]`: the time limits take a number or "off"; `request_timeout_s` is the
    request's total time (`total_timeout_ms`), in seconds."""
    time_limits = ("timeout_ms", "cpu_limit_ms")
    plain = ("memory_limit_mb", "max_body_mb", "max_buffered_body_mb", "body_timeout_s", "stream_idle_timeout_s",
             "stream_timeout_s", "stream_cpu_ms", "max_subrequests", "max_concurrent_subrequests",
             "subrequest_timeout_s")
    table = checker.table(value, key, {*time_limits, *plain, "request_timeout_s"})
    given: dict[str, Any] = {}
    for name in time_limits:
        if name in table:
            given[name] = checker.number(table, key, name, None, can_be_off=True)
    for name in plain:
        if name in table:
            given[name] = checker.number(table, key, name, None,
                                         integer=name in ("memory_limit_mb", "max_subrequests",
                                                          "max_concurrent_subrequests"))
    if "request_timeout_s" in table:
        total = checker.number(table, key, "request_timeout_s", None, can_be_off=True)
        given["total_timeout_ms"] = None if total is None else total * 1000
    try:
        return AppLimits(**given)
    except LimitError as exc:
        raise checker.fail(f"{key}.{exc.limit}", str(exc)) from None


def _egress(checker: _Checker, app: dict[str, Any], key: str) -> EgressPolicy | None:
    """`[apps.egress]`: `allow` and `deny` lists and `dns_servers` (engine/egress.py);
    `outbound_hosts` is the old `allow`."""
    if "egress" not in app:
        return None
    table = checker.table(app["egress"], f"{key}.egress", {"allow", "deny", "dns_servers"})
    if "allow" in table and app.get("outbound_hosts") is not None:
        raise checker.fail(f"{key}.outbound_hosts", "is the deprecated name of egress.allow: give only egress.allow")
    lists = {}
    for name in ("allow", "deny", "dns_servers"):
        value = table.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise checker.fail(f"{key}.egress.{name}", f"expected a list of strings, got {_describe(value)}")
        lists[name] = value
    try:
        allow = lists["allow"] if lists["allow"] is not None else app.get("outbound_hosts")
        return EgressPolicy.parse(allow=allow, deny=lists["deny"] or (), dns_servers=lists["dns_servers"] or ())
    except EgressConfigError as exc:
        raise checker.fail(f"{key}.egress", str(exc)) from None


def _app(checker: _Checker, value: Any, index: int, base_dir: Path) -> AppConfig:
    key = f"apps[{index}]"
    table = checker.table(value, key, {"name", "script", "routes", "env", "secrets", "limits", "pool_size",
                                       "max_pool_size", "max_queue", "outbound_hosts", "egress", "root", "crons",
                                       "isolation"})
    name = checker.string(table, key, "name")
    if not _NAME.match(name):
        raise checker.fail(f"{key}.name", f"{name!r} is not a valid app name ({_NAME_RULE})")
    key = f"{key} ({name})"
    script = base_dir / checker.string(table, key, "script")
    if not script.is_file():
        raise checker.fail(f"{key}.script", f"file not found: {script}")
    raw_routes = table.get("routes")
    if not isinstance(raw_routes, list) or not raw_routes or not all(isinstance(r, str) for r in raw_routes):
        got = "nothing" if raw_routes is None else _describe(raw_routes)
        raise checker.fail(f"{key}.routes",
                           f"expected a non-empty list like [\"/api/*\", \"example.com\"], got {got}")
    routes = []
    for text in raw_routes:
        try:
            routes.append(Route.parse(text))
        except ValueError as exc:
            raise checker.fail(f"{key}.routes", str(exc)) from None
    env = checker.table(table.get("env", {}), f"{key}.env", set(table.get("env", {})))
    for env_name, env_value in env.items():
        if not isinstance(env_value, str | int | float | bool):
            raise checker.fail(f"{key}.env.{env_name}", f"expected a string, number or boolean, got "
                               f"{_describe(env_value)}")
    secrets = table.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(s, str) and _ENV_NAME.match(s) for s in secrets):
        raise checker.fail(f"{key}.secrets", f"expected a list of environment variable names, got "
                           f"{_describe(secrets)}")
    for secret in secrets:
        if secret not in os.environ:
            raise checker.fail(f"{key}.secrets", f"environment variable {secret} is not set")
        if secret in env:
            raise checker.fail(f"{key}.secrets", f"{secret} is also set in env")
    outbound = table.get("outbound_hosts")
    if outbound is not None:
        if not isinstance(outbound, list) or not all(isinstance(h, str) and _HOST.match(h.lower()) for h in outbound):
            raise checker.fail(f"{key}.outbound_hosts", "expected a list of host names like "
                               f"[\"api.example.com\", \"*.example.org\"], got {_describe(outbound)}")
        outbound = tuple(h.lower() for h in outbound)
    root = app_root(base_dir / checker.string(table, key, "root"), script) if "root" in table else None
    try:
        crons = check_crons(table.get("crons", []))
    except ValueError as exc:
        raise checker.fail(f"{key}.crons", str(exc)) from None
    pool_size = checker.number(table, key, "pool_size", None, integer=True, minimum=1)
    max_pool_size = checker.number(table, key, "max_pool_size", None, integer=True, minimum=1)
    if pool_size is not None and max_pool_size is not None and max_pool_size < pool_size:
        raise checker.fail(f"{key}.max_pool_size", f"must be at least pool_size ({pool_size}), got {max_pool_size}")
    return AppConfig(
        name=name, script=script, routes=tuple(routes), env=dict(env), secrets=tuple(secrets),
        outbound_hosts=outbound, egress=_egress(checker, table, key), root=root, crons=crons,
        isolation=_isolation(checker, table, key),
        limits=_limits(checker, table.get("limits", {}), f"{key}.limits"),
        pool_size=pool_size, max_pool_size=max_pool_size,
        max_queue=checker.number(table, key, "max_queue", 64, integer=True, minimum=0),
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; ConfigError naming the file when it cannot be read or parsed."""
    import tomllib  # imported on use: `serve app.js` reads no TOML, and its import is a cold start's 25 ms

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(path: str | Path) -> ServerConfig:
    """Reads and checks a config file; raises ConfigError naming the file, key and problem."""
    path = Path(path)
    checker = _Checker(str(path))
    data = read_toml(path)
    checker.table(data, "", {"server", "apps"})
    server = checker.table(data.get("server", {}), "server", {"host", "port", "workers", "metrics_path",
                                                             "health_path", "isolation"})
    raw_apps = data.get("apps")
    if not isinstance(raw_apps, list) or not raw_apps:
        raise checker.fail("apps", "at least one [[apps]] entry is required")
    apps = tuple(_app(checker, entry, index, path.parent.resolve()) for index, entry in enumerate(raw_apps))
    seen_names: set[str] = set()
    seen_routes: dict[Route, str] = {}
    for app in apps:
        if app.name in seen_names:
            raise checker.fail("apps", f"two apps are named {app.name!r}")
        seen_names.add(app.name)
        for route in app.routes:
            if route in seen_routes:
                other = seen_routes[route]
                raise checker.fail(f"apps ({app.name}).routes",
                                   f"route {_route_text(route)!r} is already used by app {other!r}")
            seen_routes[route] = app.name
    config = ServerConfig(
        apps=apps,
        host=checker.string(server, "server", "host", "127.0.0.1"),
        port=checker.number(server, "server", "port", 8787, integer=True, minimum=0),
        workers=checker.number(server, "server", "workers", 1, integer=True, minimum=1),
        metrics_path=_path(checker, server, "metrics_path", "/metrics"),
        health_path=_path(checker, server, "health_path", "/healthz"),
        isolation=_isolation(checker, server, "server"),
    )
    if config.metrics_path == config.health_path:
        raise checker.fail("server.health_path", "must differ from server.metrics_path")
    return config


def _route_text(route: Route) -> str:
    return f"{route.host or ''}{route.path}{'/*' if route.prefix else ''}"


# Entry file names that say nothing about the app: such an app is named after its folder.
_GENERIC_STEMS = {"worker", "index", "main", "app", "src", "_worker"}


def default_app_name(script: Path) -> str:
    """The file's name without extension, or its folder's when the file name is generic."""
    stem = script.stem
    if stem in _GENERIC_STEMS and script.parent.name:
        stem = script.parent.name if script.parent.name != "src" else script.parent.parent.name or stem
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", stem).lstrip("_.-")
    return name or "app"


def single_app_config(script: str | Path, name: str | None = None) -> AppConfig:
    """The app `serve app.js` runs: named after the file, answering every path."""
    script = Path(script).resolve()
    if not script.is_file():
        raise ConfigError(f"{script}: file not found")
    name = name or default_app_name(script)
    if not _NAME.match(name):
        raise ConfigError(f"--name: {name!r} is not a valid app name (letters, digits, '_', '.', '-')")
    return AppConfig(name=name, script=script)


def app_root(root: Path, script: Path) -> Path:
    """A configured project root: an existing folder that contains the app's script."""
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"root: {root} is not a folder")
    if not script.resolve().is_relative_to(root):
        raise ConfigError(f"root: {root} does not contain the script {script}")
    return root
