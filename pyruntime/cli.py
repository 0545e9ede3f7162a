"""Command line: `python -m pyruntime serve|run|repl`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from .config import ConfigError, ServerConfig, load_config, single_app_config
from .errors import Error, JSError
from .logs import JsonLogger
from .worker import WorkerIsolate, load_script


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyruntime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve worker apps over HTTP")
    serve.add_argument("script", nargs="?", help="the worker script of a single app")
    serve.add_argument("--config", help="a pyruntime.toml serving several apps")
    serve.add_argument("--name", help="the app's name (default: the script's file name)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8787)")
    serve.add_argument("--workers", type=int, help="number of server processes (default 1)")
    serve.add_argument("--reload", action="store_true", help="reload apps when their files change")
    # Internal: a worker process started by the supervisor serves on this inherited socket.
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)

    run = commands.add_parser("run", help="run a JS file as a script")
    run.add_argument("file")
    run.add_argument("--timeout-ms", type=float, help="wall-clock limit of JS execution")
    run.add_argument("--cpu-limit-ms", type=float, help="CPU time limit of JS execution")
    run.add_argument("--memory-limit-mb", type=int, help="memory limit of the isolate")

    commands.add_parser("repl", help="an interactive JavaScript prompt")
    return parser


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
    config = ServerConfig(**{**config.__dict__, **overrides})
    if args.listen_fd is None:  # the supervisor checks once; its workers need not repeat it
        asyncio.run(_check_apps_load(config))
    return config


async def _check_apps_load(config: ServerConfig) -> None:
    """Loads each app once, top-level code included, before any port is bound: a broken app
    fails here with its error instead of crashing workers that the supervisor restarts."""
    for app in config.apps:
        isolate = WorkerIsolate(load_script(app.script), env=app.resolved_env(), limits=app.limits)
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
    argv = ["serve", "--workers", "1"]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    else:
        argv += [str(Path(args.script).resolve()), "--name", config.apps[0].name]
    return argv + (["--reload"] if args.reload else [])


def _serve(args: argparse.Namespace) -> int:
    logger = JsonLogger()
    try:
        config = _server_config(args)
    except (ConfigError, Error) as exc:
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 2
    # Imported here so that `run` and `repl` start without loading the server's dependencies.
    # Even one worker runs under the supervisor: V8 aborts the process on a few fatal paths
    # (see README), and the supervisor replaces it while holding the listening socket.
    if args.listen_fd is None:
        from .supervisor import Supervisor

        try:
            return Supervisor(config, _worker_args(args, config), config.workers, logger).run()
        except OSError as exc:  # the port is taken, or the address is not ours
            print(f"pyruntime: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 1
    from .server import serve

    try:
        serve(config, reload=args.reload, listen_fd=args.listen_fd, logger=logger)
    except Exception as exc:  # an app whose top-level code fails, a port in use
        logger.emit("error", "error", message=f"the server failed: {exc}", stack=getattr(exc, "stack", None))
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    from .runner import run_file  # imported on use: only `run` needs it

    limits = {key: getattr(args, key) for key in ("timeout_ms", "cpu_limit_ms", "memory_limit_mb")
              if getattr(args, key) is not None}
    return run_file(args.file, **limits)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "run":
        return _run(args)
    from .repl import main as repl_main

    return repl_main()
