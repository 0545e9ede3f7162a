"""Wrangler projects: a `wrangler.toml` read as one app, with `.dev.vars` secrets for development.

Read: `name`, `main`, `[vars]`, `routes`/`route`, `[triggers] crons`, `[limits] cpu_ms` and
`[env.NAME]` environments (`--env NAME`). As in wrangler, an environment inherits the
top-level keys except `vars`, and is named "<name>-<env>" unless it sets `name`. Every other
key (bindings, compatibility dates, build settings) is reported back as ignored, so that
`serve` can list it once at start instead of dropping it silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..engine.limits import LimitError
from .config import _NAME, AppConfig, AppLimits, ConfigError, Route, ServerConfig, app_root, read_toml
from .crons import check_crons

# Keys this module reads, at the top level and in an environment.
_READ = {"name", "main", "vars", "routes", "route", "triggers", "limits"}
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def is_wrangler_config(path: Path) -> bool:
    return path.name.startswith("wrangler") and path.suffix == ".toml"


def load_wrangler(path: str | Path, env_name: str | None = None,
                  root: Path | None = None) -> tuple[ServerConfig, list[str]]:
    """The server configuration of a wrangler project, and the keys it ignored."""
    path = Path(path).resolve()
    where = str(path)
    data = read_toml(path)
    ignored = sorted(key for key in data if key not in _READ | {"env"})
    table = {key: value for key, value in data.items() if key != "env"}
    environments = data.get("env", {})
    if not isinstance(environments, dict):
        raise ConfigError(f"{where}: env: expected tables like [env.staging]")
    if env_name is not None:
        overrides = environments.get(env_name)
        if not isinstance(overrides, dict):
            known = ", ".join(sorted(environments)) or "none"
            raise ConfigError(f"{where}: --env {env_name}: no [env.{env_name}] in the file (environments: {known})")
        ignored += sorted(f"env.{env_name}.{key}" for key in overrides if key not in _READ)
        table.pop("vars", None)  # wrangler does not inherit vars into environments
        if "route" in overrides or "routes" in overrides:  # an environment's routes replace the top level's
            table.pop("route", None)
            table.pop("routes", None)
        if "name" not in overrides and isinstance(table.get("name"), str):
            table["name"] = f"{table['name']}-{env_name}"
        table.update(overrides)
    base = path.parent
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: name: expected an app name (letters, digits, '_', '.', '-'), got {name!r}")
    main = table.get("main")
    if not isinstance(main, str) or not main:
        raise ConfigError(f"{where}: main: the worker's entry script is required (main = \"src/index.js\")")
    script = (base / main).resolve()
    if not script.is_file():
        raise ConfigError(f"{where}: main: file not found: {script}")
    app = AppConfig(name=name, script=script, routes=_routes(table, where), env=_vars(table, base, env_name, where),
                    limits=_limits(table.get("limits", {}), where), crons=_crons(table.get("triggers", {}), where),
                    root=app_root(root or base, script))
    return ServerConfig(apps=(app,)), ignored


def _routes(table: dict[str, Any], where: str) -> tuple[Route, ...]:
    """`routes = ["example.com/*", { pattern = "api.example.com/*", zone_name = "..." }]` or `route`."""
    given = table.get("routes", [])
    if "route" in table:
        given = [table["route"], *given] if isinstance(given, list) else given
    if not isinstance(given, list):
        raise ConfigError(f"{where}: routes: expected a list, got {given!r}")
    routes = []
    for item in given:
        pattern = item.get("pattern") if isinstance(item, dict) else item
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{where}: routes: expected a pattern string or {{ pattern = ... }}, got {item!r}")
        try:
            routes.append(Route.parse(re.sub(r"^https?://", "", pattern)))
        except ValueError as exc:
            raise ConfigError(f"{where}: routes: {exc}") from None
    return tuple(routes) or (Route(None, "", True),)


def _vars(table: dict[str, Any], base: Path, env_name: str | None, where: str) -> dict[str, Any]:
    """`[vars]` (strings, numbers, booleans, or tables given to JS as objects), then `.dev.vars`."""
    values = table.get("vars", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: vars: expected a table, got {values!r}")
    env = dict(values)
    dev_vars = base / f".dev.vars.{env_name}" if env_name else base / ".dev.vars"
    if env_name and not dev_vars.is_file():
        dev_vars = base / ".dev.vars"
    if dev_vars.is_file():
        env.update(read_dotenv(dev_vars))
    return env


def read_dotenv(path: Path) -> dict[str, str]:
    """A dotenv file: `KEY=value` lines, values optionally quoted, `#` comments."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected KEY=value")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n")
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def _limits(value: Any, where: str) -> AppLimits:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: limits: expected a table, got {value!r}")
    unknown = set(value) - {"cpu_ms"}
    if unknown:
        raise ConfigError(f"{where}: limits.{sorted(unknown)[0]}: unknown key (expected cpu_ms)")
    if "cpu_ms" not in value:
        return AppLimits()
    try:
        return AppLimits(cpu_limit_ms=value["cpu_ms"])
    except LimitError as exc:
        raise ConfigError(f"{where}: limits.cpu_ms: {exc}") from None


def _crons(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: triggers: expected a table, got {value!r}")
    try:
        return check_crons(value.get("crons", []))
    except ValueError as exc:
        raise ConfigError(f"{where}: triggers.crons: {exc}") from None
