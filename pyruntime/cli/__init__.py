"""Command line: `python -m pyruntime serve|run|repl`."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: serve's first worker starts before it is imported (cli/serve.py)
if TYPE_CHECKING:
    import argparse


def _parser() -> argparse.ArgumentParser:
    """The command line's parser. Imported and built after serve's first worker is forked
    (cli/serve.py, start_first_worker), with the limits' module for `run`'s defaults."""
    import argparse

    from ..engine.limits import Limits

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
    serve.add_argument("--env", help="a wrangler.toml environment ([env.NAME]) to serve")
    serve.add_argument("--root", help="the project root imports may reach (default: the app's folder)")
    serve.add_argument("--test-scheduled", action="store_true",
                       help="development: GET /__scheduled?cron=... runs the apps' scheduled handlers")
    serve.add_argument("--log-format", choices=("pretty", "json"),
                       help="log lines for a terminal, or JSON (default: pretty on a terminal, JSON otherwise)")
    serve.add_argument("--server", choices=("hypercorn", "granian", "h1"), default="hypercorn",
                       help="the HTTP server: Hypercorn (pure Python, HTTP/1.1 and h2c, the default), Granian "
                            "(Rust), or h1 (pyruntime's own HTTP/1.1 on uvloop: the least CPU per request)")
    # Internal: a worker process started by the supervisor receives its listening socket over
    # this inherited Unix socket.
    serve.add_argument("--listen-channel", type=int, help=argparse.SUPPRESS)
    # Internal: the supervisor's slot of this worker; only slot 0 runs cron triggers.
    serve.add_argument("--worker-slot", type=int, default=0, help=argparse.SUPPRESS)

    run = commands.add_parser("run", help="run a JS file as a script",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("file")
    defaults = Limits()
    run.add_argument("--cpu-limit-ms", default=_text(defaults.cpu_limit_ms),
                     help="CPU time each call (top-level code, each timer) may use; a number or 'off'")
    run.add_argument("--timeout-ms", default=_text(defaults.timeout_ms),
                     help="wall-clock time each call may spend running JS; a number or 'off'")
    run.add_argument("--memory-limit-mb", default=str(defaults.memory_limit_mb),
                     help="the isolate's memory limit (heap, ArrayBuffers, WebAssembly)")

    commands.add_parser("repl", help="an interactive JavaScript prompt")
    return parser


def _text(value: float | None) -> str:
    return "off" if value is None else f"{value:g}"


def _run(args: argparse.Namespace) -> int:
    from ..engine.limits import LimitError, Limits
    from .run import run_file  # imported on use: only `run` needs it

    try:
        given = {name: Limits.parse_text(name, getattr(args, name))
                 for name in ("timeout_ms", "cpu_limit_ms", "memory_limit_mb")}
        limits = Limits(total_timeout_ms=None, **given)
    except LimitError as exc:
        print(f"pyruntime run: error: {exc}", file=sys.stderr)
        return 2
    return run_file(args.file, limits=limits)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = None
    if argv[:1] == ["serve"]:
        from .serve import start_first_worker

        first = start_first_worker(argv[1:])
        if isinstance(first, list):  # this process is that first worker
            argv, first = first, None
    try:
        args = _parser().parse_args(argv)
    except SystemExit:  # a command line argparse refused (or --help): the worker it started goes too
        if first is not None:
            first.abandon(kill=True)
        raise
    if args.command == "serve":
        from .serve import serve_command  # the server's libraries load only for `serve`

        return serve_command(args, first)
    if args.command == "run":
        return _run(args)
    from .repl import main as repl_main

    return repl_main()
