"""TypeScript apps: `.ts`/`.mts` modules have their types stripped by esbuild (no type
checking) and keep their own line and column numbers in errors and stack traces."""

import asyncio
from pathlib import Path

import pytest

from pyruntime import JSError
from pyruntime.engine import AppIsolate, load_script
from pyruntime.engine.scripts import ScriptLoadError

APP_TS = """\
import { greet, type Greeting } from "./greet";
import { Color } from "./color.mts";

interface Env {
  NAME: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const path: string = new URL(request.url).pathname;
    if (path === "/throw") {
      throw new Error("thrown on line 12");
    }
    const g: Greeting = greet(env.NAME);
    return new Response(`${g.text} ${Color[Color.Green]}`);
  },
} satisfies ExportedHandler<Env>;
"""
GREET_TS = """\
export type Greeting = { text: string };
export function greet(name: string): Greeting {
  return { text: `hello ${name as string}` };
}
"""
COLOR_MTS = "export enum Color { Red, Green }\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder / next(iter(files))


def run(entry: Path, path: str = "/"):
    async def go():
        worker = AppIsolate(load_script(entry), env={"NAME": "ts"})
        try:
            await worker.load()
            return await worker.fetch("GET", "http://example.test" + path, [], None)
        finally:
            worker.close()
    return asyncio.run(go())


def test_typescript_entry_and_imports_are_served(tmp_path):
    entry = write(tmp_path, {"worker.ts": APP_TS, "greet.ts": GREET_TS, "color.mts": COLOR_MTS})
    script = load_script(entry)
    assert script.kind == "module"
    assert set(script.sources) == {"worker.ts", "greet.ts", "color.mts"}
    assert run(entry).body == b"hello ts Green"


def test_runtime_errors_point_at_the_typescript_line_and_column(tmp_path):
    entry = write(tmp_path, {"worker.ts": APP_TS, "greet.ts": GREET_TS, "color.mts": COLOR_MTS})
    with pytest.raises(JSError) as info:
        run(entry, "/throw")
    # `new Error(...)` is at line 12, column 13 of worker.ts (1-based), as written.
    assert "worker.ts:12:13" in info.value.stack, info.value.stack


def test_type_errors_are_not_checked_but_syntax_errors_name_the_ts_position(tmp_path):
    entry = write(tmp_path, {"worker.ts": 'const n: number = "not a number";\n'
                                          'export default { fetch() { return new Response(String(n)); } };\n'})
    assert run(entry).body == b"not a number"
    entry = write(tmp_path, {"worker.ts": "const ok = 1;\nfunction f(a: number { return a }\nexport default {};\n"})
    with pytest.raises(ScriptLoadError, match=r"worker\.ts:2:21: Expected \"\)\" but found \"\{\""):
        load_script(entry)
