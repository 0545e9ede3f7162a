"""`python -m pyruntime serve`: configuration, the start-up check, then the supervisor or a worker."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..engine import AppIsolate, load_script
from ..engine.errors import Error, JSError
from ..server.config import ConfigError, ServerConfig, load_config, single_app_config
from ..server.logs import JsonLogger


def _server_config(args: argparse.Namespace) -> ServerConfig:
    if args.config and args.script:
        raise ConfigError("give either a script or --config, not both")
    if args.config:
        if args.name:
            raise ConfigError("--name applies to a single script; in a config file each app has a name")
        config = load_config(args.config)
    elif args.script:
        config = ServerConfig(apps=(single_app_config(args.script, args.name),))
    else:
        raise ConfigError("serve needs a worker script or --config FILE")
    overrides = {key: getattr(args, key) for key in ("host", "port", "workers")
                 if getattr(args, key) is not None}
    if overrides.get("workers", 1) < 1:
        raise ConfigError(f"--workers must be at least 1, not {overrides['workers']}")
    return ServerConfig(**{**config.__dict__, **overrides})


async def _check_apps_load(config: ServerConfig) -> None:
    """Loads each app once, top-level code included, before any port is bound: a broken app
    fails here with its error instead of crashing workers that the supervisor restarts."""
    for app in config.apps:
        isolate = AppIsolate(load_script(app.script), env=app.resolved_env(), limits=app.limits)
        try:
            await isolate.load()
        except JSError as exc:
            raise Error(f"app {app.name} failed to load: {exc.stack}") from None
        except Error as exc:
            raise Error(f"app {app.name} failed to load: {exc}") from None
        finally:
            isolate.close()


def _worker_args(args: argparse.Namespace, config: ServerConfig) -> list[str]:
    """The `serve` command line of one worker process under the supervisor."""
    argv = ["serve", "--workers", "1", "--server", args.server]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    else:
        argv += [str(Path(args.script).resolve()), "--name", config.apps[0].name]
    return argv + (["--reload"] if args.reload else [])


def serve_command(args: argparse.Namespace) -> int:
    logger = JsonLogger()
    try:
        config = _server_config(args)
    except (ConfigError, Error) as exc:
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 2
    if args.listen_channel is None:
        return _supervise(args, config, logger)
    return _work(args, config, logger)


def _supervise(args: argparse.Namespace, config: ServerConfig, logger: JsonLogger) -> int:
    """The supervisor: starts the workers, checks the apps load meanwhile, then binds the port.

    Even one worker runs under the supervisor: V8 aborts the process on a few fatal paths
    (see README), and the supervisor replaces it while holding the listening socket.
    """
    from ..server.supervisor import Supervisor

    supervisor = Supervisor(config, _worker_args(args, config), config.workers, logger)
    supervisor.start_workers()  # they import the server while the apps are checked here
    try:
        asyncio.run(_check_apps_load(config))
    except Error as exc:
        supervisor.abandon()
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 2
    try:
        return supervisor.run()
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"pyruntime: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1


def _work(args: argparse.Namespace, config: ServerConfig, logger: JsonLogger) -> int:
    """A worker: loads the apps, waits for the listening socket, serves until SIGTERM."""
    # Imported here so that `run` and `repl` start without loading the server's dependencies.
    if args.server == "granian":
        from ..server.granian_server import serve
    else:
        from ..server.asgi import serve

    try:
        serve(config, reload=args.reload, listen_channel=args.listen_channel, logger=logger)
    except Exception as exc:  # an app whose top-level code fails
        logger.emit("error", "error", message=f"the server failed: {exc}", stack=getattr(exc, "stack", None))
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 1
    return 0
