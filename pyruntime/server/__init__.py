"""pyruntime.server: serving Workers-style apps over HTTP.

`WorkerApp` (app.py) is the ASGI app of one app with its isolate pool (pool.py); asgi.py
routes to several and runs them on Hypercorn; supervisor.py keeps the worker processes;
config.py reads pyruntime.toml; logs.py and metrics.py observe. Nothing here is imported
by `import pyruntime` until a server name is used.
"""
