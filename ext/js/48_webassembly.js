// WebAssembly memories live outside the V8 heap and the ArrayBuffer allocator, so the
// memory limit is checked here before a Memory is created or grown. (Growth from inside
// wasm code is caught by the runtime after the call, which then discards the isolate.)
// Compilation is synchronous, on the isolate's own thread: it counts against the request's
// time and CPU limits, and never waits on a background task the event loop cannot see.
// V8 adds the WebAssembly global only to contexts made from the snapshot, so the runtime
// calls this once per isolate.
"use strict";

function installWebAssemblyLimits() {
  const WasmMemory = WebAssembly.Memory;
  const PAGE = 65536;
  const originalGrow = WasmMemory.prototype.grow;

  function reserve(pages, what) {
    const bytes = Number(pages) * PAGE;
    if (bytes > native.memoryAvailable()) {
      throw new RangeError(`WebAssembly.Memory ${what}: ${bytes} bytes exceed the isolate's memory limit`);
    }
  }

  function Memory(descriptor) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be invoked with 'new'");
    if (descriptor !== null && typeof descriptor === "object") reserve(descriptor.initial ?? 0, "initial size");
    return Reflect.construct(WasmMemory, [descriptor], new.target === Memory ? WasmMemory : new.target);
  }
  Memory.prototype = WasmMemory.prototype;
  Object.defineProperty(Memory, "name", { value: "Memory" });
  Object.defineProperty(WasmMemory.prototype, "constructor", { value: Memory, writable: true, configurable: true });

  Object.defineProperty(WasmMemory.prototype, "grow", {
    value: function grow(delta) {
      reserve(delta, "grow");
      return Reflect.apply(originalGrow, this, [delta]);
    },
    writable: true,
    configurable: true,
  });

  Object.defineProperty(WebAssembly, "Memory", { value: Memory, writable: true, configurable: true });

  const { Module, Instance } = WebAssembly;

  async function bytesOf(source) {
    const response = await source;
    if (!(response instanceof Response)) {
      throw new TypeError("WebAssembly streaming compilation expects a Response or a Promise of one");
    }
    return response.arrayBuffer();
  }

  const asyncApi = {
    async compile(bytes) {
      return new Module(bytes);
    },
    async instantiate(source, imports) {
      if (source instanceof Module) return new Instance(source, imports);
      const module = new Module(source);
      return { module, instance: new Instance(module, imports) };
    },
    async compileStreaming(source) {
      return new Module(await bytesOf(source));
    },
    async instantiateStreaming(source, imports) {
      const module = new Module(await bytesOf(source));
      return { module, instance: new Instance(module, imports) };
    },
  };
  for (const [name, fn] of Object.entries(asyncApi)) {
    Object.defineProperty(fn, "name", { value: name });
    Object.defineProperty(WebAssembly, name, { value: fn, writable: true, configurable: true });
  }
}

Object.assign(internal, { installWebAssemblyLimits });
