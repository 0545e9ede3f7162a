"""Handles: JS values that do not convert to Python values, held by the isolate and used by id.

A result that is (or contains) a function, a promise or an object other than a plain one
comes back as a handle instead of an error: `JSFunction` is callable, `JSObject` supports
item access, `keys()` and iteration over its own enumerable keys, and `JSPromise` is
awaited with `result()` (sync `Isolate`) or `await` (`AsyncIsolate`). With an
`AsyncIsolate`, every operation on a handle is a coroutine. A handle passed back into JS
(as an argument) is the same JS value. Handles keep their JS value alive until they are
garbage collected in Python; at most 100,000 are held per isolate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .isolate import IsolateCore, Start


class JSObject:
    """A JS object held by the isolate: `obj["key"]`, `obj.keys()`, `iter(obj)`, `len(obj)`."""

    __slots__ = ("_js_handle", "_shell", "type_name", "__weakref__")

    def __init__(self, shell: IsolateCore, handle_id: int, type_name: str) -> None:
        self._shell = shell
        self._js_handle = (handle_id, shell._runtime)
        self.type_name = type_name

    def _do(self, start: Callable[[Any, int], Any]) -> Any:
        handle_id = self._js_handle[0]
        op: Start = lambda rt: start(rt, handle_id)  # noqa: E731
        return self._shell._handle_call(op)

    def __getitem__(self, key: str | int) -> Any:
        return self._do(lambda rt, handle: rt.get_handle_property(handle, key))

    def get(self, key: str | int) -> Any:
        """The property `key` (undefined is None)."""
        return self[key]

    def keys(self) -> Any:
        """The object's own enumerable string keys."""
        return self._do(lambda rt, handle: rt.handle_keys(handle))

    def __iter__(self) -> Iterator[str]:
        keys = self.keys()
        if not isinstance(keys, list):  # AsyncIsolate: use `await obj.keys()`
            keys.close()
            raise TypeError("iterate over `await obj.keys()` with an AsyncIsolate")
        return iter(keys)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __repr__(self) -> str:
        return f"<JS {self.type_name}>"

    def __del__(self) -> None:
        handle_id, runtime = self._js_handle
        runtime.release_handle(handle_id)


class JSFunction(JSObject):
    """A JS function: calling it calls the function (a Promise result is awaited, as `call` does)."""

    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        return self._do(lambda rt, handle: rt.call_handle(handle, args))


class JSPromise(JSObject):
    """A JS promise: `result()` waits for it (sync Isolate); `await promise` (AsyncIsolate)."""

    __slots__ = ()

    def result(self) -> Any:
        return self._do(lambda rt, handle: rt.await_handle(handle))

    def __await__(self) -> Any:
        return self.result().__await__()


def make_handle(shell: IsolateCore) -> Callable[[int, str], JSObject]:
    """The factory the core calls for each value it holds by id."""
    def handle(handle_id: int, type_name: str) -> JSObject:
        kind = JSFunction if type_name == "function" else JSPromise if type_name == "Promise" else JSObject
        return kind(shell, handle_id, type_name)
    return handle
