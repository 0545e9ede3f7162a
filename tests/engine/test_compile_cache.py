"""Compiled code kept on disk between processes (pyruntime/engine/compile_cache.py): the
startup snapshot and app modules' code caches. Each case runs real processes, since what is
cached is made once per process."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from pyruntime import Isolate
    from pyruntime.engine import AppIsolate, compile_cache, load_script

    async def serve(entry):
        script = load_script(entry)
        loaded_with_code = bool(script.code_cache)
        app = AppIsolate(script)
        await app.load()
        result = await app.fetch("GET", "http://localhost/?n=2", [], None)
        app.end_request()
        app.close()
        return loaded_with_code, result.body.decode()

    with Isolate() as isolate:
        answer = isolate.eval("[1, 2, 3].map((n) => n * 2).join()")
    entry = Path(sys.argv[1])
    loaded_with_code, body = asyncio.run(serve(entry)) if entry.name else (None, None)
    print(json.dumps({"origin": compile_cache.snapshot_origin, "answer": answer,
                      "loaded_with_code": loaded_with_code, "body": body}))
""")

APP = "export default { fetch(r) { return new Response('n=' + new URL(r.url).searchParams.get('n')); } };\n"


def run(cache: Path | str, app: Path | None = None, tmp_path: Path | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(app or "")], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "PYRUNTIME_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    entry = tmp_path / "app" / "worker.js"
    entry.parent.mkdir()
    entry.write_text(APP)
    return entry


def test_the_snapshot_is_made_once_then_kept(tmp_path: Path):
    cache = tmp_path / "cache"
    first, second = run(cache, tmp_path=tmp_path), run(cache, tmp_path=tmp_path)
    assert (first["origin"], second["origin"]) == ("made", "kept")
    assert first["answer"] == second["answer"] == "2,4,6"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    files = list(cache.glob("snapshot-*.bin"))
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == "0o600"


def test_a_damaged_snapshot_is_made_again(tmp_path: Path):
    cache = tmp_path / "cache"
    run(cache, tmp_path=tmp_path)
    (kept,) = cache.glob("snapshot-*.bin")
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0xFF
    kept.write_bytes(bytes(data))
    assert run(cache, tmp_path=tmp_path)["origin"] == "made"
    assert run(cache, tmp_path=tmp_path)["origin"] == "kept"


def test_a_folder_others_may_write_to_is_not_used(tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    assert run(cache, tmp_path=tmp_path)["origin"] == "made only"
    assert not list(cache.iterdir())


def test_caching_can_be_turned_off(tmp_path: Path):
    assert run("off", tmp_path=tmp_path)["origin"] == "made only"


def test_an_apps_compiled_code_is_kept_after_its_first_request(tmp_path: Path, app: Path):
    cache = tmp_path / "cache"
    first = run(cache, app, tmp_path)
    assert first["loaded_with_code"] is False and first["body"] == "n=2"
    assert len(list(cache.glob("module-*.bin"))) == 1
    second = run(cache, app, tmp_path)
    assert second["loaded_with_code"] is True and second["body"] == "n=2"
    # Another source is another key: an edited app starts without code, and still works.
    app.write_text(APP.replace("n=", "value "))
    third = run(cache, app, tmp_path)
    assert third["loaded_with_code"] is False and third["body"] == "value 2"


def test_v8_refuses_a_blob_that_is_not_a_snapshot(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from pyruntime import _core
        print(_core.use_snapshot_blob(b"not a snapshot" * 1000), _core.use_snapshot_blob(b""),
              _core.use_snapshot_blob(b"tiny"))
        print(_core.Runtime(64 << 20, 1000, 50).eval("6 * 7", "x.js").value)
    """)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False", "42"]


WARM = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from pyruntime.engine import AppIsolate, compile_cache, load_script
    from pyruntime.engine.scripts import start_warming

    async def serve(entry):
        app = AppIsolate(load_script(entry))
        await app.load()
        result = await app.fetch("GET", "http://localhost/?n=3", [], None)
        app.end_request()
        app.close()
        return result.body.decode()

    warming = start_warming()
    if sys.argv[2] == "wait":
        warming.join()
    origin = compile_cache.snapshot_origin
    print(json.dumps({"origin": origin, "body": asyncio.run(serve(Path(sys.argv[1])))}))
""")


@pytest.mark.parametrize("wait", [True, False], ids=["warmed", "racing the warm-up"])
def test_warming_makes_the_snapshot_before_the_first_load(tmp_path: Path, app: Path, wait: bool):
    """A starting server warms V8 on a thread while its modules import (cli/serve.py): the
    snapshot is made (then kept) there, and a load that comes before the warm-up ends waits for it."""
    cache = tmp_path / "cache"
    origins = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", WARM, str(app), "wait" if wait else "go"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYRUNTIME_CACHE_DIR": str(cache)})
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["body"] == "n=3"
        origins.append(result["origin"])
    if wait:
        assert origins == ["made", "kept"]
    assert len(list(cache.glob("snapshot-*.bin"))) == 1
