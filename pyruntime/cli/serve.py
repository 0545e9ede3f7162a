"""`python -m pyruntime serve`: configuration, then the supervisor or a worker."""

from __future__ import annotations

import os
import sys

# Not typing.TYPE_CHECKING, and no argparse or pathlib up to the first worker's start: their
# imports would delay it (see start_first_worker).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..server.config import ServerConfig
    from ..server.logs import JsonLogger
    from ..server.supervisor import Supervisor


def _server_config(args: argparse.Namespace, logger: JsonLogger) -> ServerConfig:
    import dataclasses
    from pathlib import Path

    from ..server.config import ConfigError, ServerConfig, app_root, load_config, single_app_config
    from ..server.wrangler import is_wrangler_config, load_wrangler

    if args.config and args.script:
        raise ConfigError("give either a script or --config, not both")
    config_file = Path(args.config) if args.config else None
    root = Path(args.root) if args.root else None
    if config_file is not None and is_wrangler_config(config_file):
        if args.name:
            raise ConfigError("--name applies to a single script; a wrangler.toml names its app")
        config, ignored = load_wrangler(config_file, args.env, root)
        if ignored and args.listen_channel is None:  # once, by the supervisor
            logger.emit("warn", "config_ignored", file=str(config_file), keys=ignored,
                        message=f"{config_file}: keys that do not apply here are ignored: {', '.join(ignored)}")
    elif args.env:
        raise ConfigError("--env selects an environment of a wrangler.toml")
    elif config_file is not None:
        if args.name or root:
            raise ConfigError("--name and --root apply to a single script; in a config file each app has its own")
        config = load_config(config_file)
    elif args.script:
        app = single_app_config(args.script, args.name)
        if root is not None:
            app = dataclasses.replace(app, root=app_root(root, app.script))
        config = ServerConfig(apps=(app,))
    else:
        raise ConfigError("serve needs a worker script, --config FILE, or a wrangler.toml in this folder")
    overrides = {key: getattr(args, key) for key in ("host", "port", "workers")
                 if getattr(args, key) is not None}
    if overrides.get("workers", 1) < 1:
        raise ConfigError(f"--workers must be at least 1, not {overrides['workers']}")
    return ServerConfig(**{**config.__dict__, **overrides, "test_scheduled": args.test_scheduled})


def start_first_worker(argv: list[str]) -> Supervisor | list[str] | None:
    """Forks `serve`'s first worker before the supervisor parses its own command line (see
    server/first_worker.py). In the supervisor: its `Supervisor`; a command line argparse then
    refuses (or --help) stops the worker again (cli.main). In the forked worker: the command
    line it runs. None for a worker's own command line (--listen-channel).

    Workers get the supervisor's command line (`argv`, after "serve") for one process that logs
    JSON to the supervisor, which renders it for a terminal. Paths stay as given: workers
    start in the supervisor's folder and read the configuration themselves."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    if any(arg.startswith("--listen") for arg in options):
        return None
    from ..server.first_worker import fork_first_worker, with_options

    worker_args = with_options(["serve", *argv], ["--workers", "1", "--log-format", "json"])
    first = fork_first_worker(worker_args)
    if isinstance(first, list):
        return first
    from ..server.supervisor import Supervisor

    return Supervisor(worker_args, first)


def _log_format(args: argparse.Namespace) -> str:
    return args.log_format or ("pretty" if sys.stdout.isatty() else "json")


def _logger(args: argparse.Namespace) -> JsonLogger:
    from ..server.logs import JsonLogger

    return JsonLogger(pretty=_log_format(args) == "pretty")


def serve_command(args: argparse.Namespace, supervisor: Supervisor | None) -> int:
    """`serve`: a worker (given --listen-channel), or the supervisor, whose first worker
    `start_first_worker` started."""
    if not args.config and not args.script and os.path.isfile("wrangler.toml"):
        args.config = "wrangler.toml"  # a wrangler project's folder
    if args.listen_channel is None:
        return _supervise(args, supervisor)
    return _work(args, _logger(args))


def _checked_config(args: argparse.Namespace, logger: JsonLogger) -> ServerConfig | str:
    """The server's configuration, or what is wrong with it."""
    from ..engine.errors import Error
    from ..server.config import ConfigError

    try:
        return _server_config(args, logger)
    except (ConfigError, Error) as exc:
        return str(exc)


def _supervise(args: argparse.Namespace, supervisor: Supervisor | None) -> int:
    """The supervisor: starts the other workers, waits until one loaded the apps, then binds the port.

    Even one worker runs under the supervisor: V8 aborts the process on a few fatal paths
    (see README), and the supervisor replaces it while holding the listening socket.
    """
    assert supervisor is not None, "a supervisor's command line starts its first worker (start_first_worker)"
    logger = _logger(args)
    supervisor.watch(logger)
    config = _checked_config(args, logger)
    if isinstance(config, str):
        supervisor.abandon(kill=True)
        print(f"pyruntime: error: {config}", file=sys.stderr)
        return 2
    supervisor.start_workers(config.workers)
    failure = supervisor.wait_for_load()
    if failure is not None:
        supervisor.abandon()
        print(f"pyruntime: error: {failure}", file=sys.stderr)
        return 2
    try:
        return supervisor.run(config)
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"pyruntime: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1


def _work(args: argparse.Namespace, logger: JsonLogger) -> int:
    """A worker: loads the apps, waits for the listening socket, serves until SIGTERM."""
    config = _checked_config(args, logger)
    if isinstance(config, str):  # the supervisor reports it (and has likely stopped us already)
        from ..server.supervisor import report_loaded

        report_loaded(args.listen_channel, config)
        return 2
    # Imported here so that `run` and `repl` start without loading the server's dependencies.
    from .. import _core
    from ..server.config import isolation_of

    if any(isolation_of(config, app) == "shared" for app in config.apps):  # apps load in this process
        from ..engine.scripts import start_warming

        start_warming()  # V8 makes the snapshot and the probe isolate while the server's modules import
    if args.server == "granian":
        from ..server.granian_server import serve
    elif args.server == "h1":
        from ..server.h1_server import serve
    else:
        from ..server.asgi import serve

    # A supervised worker: where V8 cannot be stopped from inside (a builtin past its time
    # limit, memory past the process bound), the guard ends this process with one JSON line
    # and the supervisor replaces it (ext/process_guard.h).
    _core.enable_process_guard()
    try:
        serve(config, reload=args.reload, listen_channel=args.listen_channel, logger=logger,
              run_crons=args.worker_slot == 0)
    except Exception as exc:  # an app whose top-level code fails
        logger.emit("error", "error", message=f"the server failed: {exc}", stack=getattr(exc, "stack", None))
        print(f"pyruntime: error: {exc}", file=sys.stderr)
        return 1
    return 0
