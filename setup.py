"""Builds pyruntime._core: the C++ runtime (ext/*.cc), its Cython binding (ext/core.pyx),
ada (WHATWG URL, from PyPI's ada-url, compiled as C++20 on its own) and the bootstrap JS
(ext/js/, embedded by ext/embed_js.py). Links the Debian release's libnode (libnode.so.108,
V8 10.2, on Debian 12; libnode.so.115, V8 11.3, on Debian 13), fetched into third_party/v8/
by third_party/fetch_v8.sh, and ICU (libicu-dev); ships libnode beside the extension with
an $ORIGIN rpath so an installed package imports from anywhere.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
V8_DIR = ROOT / "third_party" / "v8"
GEN_DIR = ROOT / "build" / "gen"


def ada_dir() -> Path:
    spec = importlib.util.find_spec("ada_url")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("setup.py: the build needs PyPI's ada-url package (it ships ada.cpp): pip install ada-url")
    return Path(spec.submodule_search_locations[0])


def libnode() -> Path | None:
    """The versioned libnode the release provides (libnode.so.108, libnode.so.115, ...)."""
    found = sorted((V8_DIR / "lib").glob("libnode.so.[0-9]*"))
    return found[0] if found else None


def ensure_v8() -> Path:
    if (V8_DIR / "include" / "node" / "v8-version.h").exists() and libnode() is not None:
        return libnode()
    script = ROOT / "third_party" / "fetch_v8.sh"
    if subprocess.call(["bash", str(script)]) != 0 or libnode() is None:
        sys.exit(f"setup.py: {script} could not bring V8 into {V8_DIR}; see its message above")
    return libnode()


class BuildExt(build_ext):
    """Adds the steps setuptools cannot express: V8, the embedded JS, ada as C++20, libnode."""

    def run(self) -> None:
        ensure_v8()
        subprocess.check_call([sys.executable, str(ROOT / "ext" / "embed_js.py"),
                               str(GEN_DIR / "js_sources.cc"), str(ROOT / "ext" / "js")])
        super().run()

    def build_extension(self, ext: Extension) -> None:
        ada = ada_dir()
        ext.extra_objects = self.compiler.compile(
            [str(ada / "ada.cpp")], output_dir=self.build_temp,
            extra_postargs=["-std=c++20", "-O2", "-fPIC"],
        )
        super().build_extension(ext)
        library = ensure_v8()
        target = Path(self.get_ext_fullpath(ext.name)).parent
        shutil.copy2(library, target / library.name)


def extension() -> Extension:
    sources = ["ext/core.pyx"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ext").glob("*.cc"))
    sources.append(str((GEN_DIR / "js_sources.cc").relative_to(ROOT)))
    return Extension(
        "pyruntime._core",
        sources=sources,
        language="c++",
        include_dirs=["ext", str(V8_DIR / "include" / "node"), str(ada_dir())],
        library_dirs=[str(V8_DIR / "lib")],
        libraries=["node", "crypto", "z", "icuuc"],
        extra_compile_args=["-std=c++17", "-O2", "-fno-rtti", "-Wall", "-Wno-unused-function"],
        extra_link_args=["-Wl,-rpath,$ORIGIN"],
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExt},
)
