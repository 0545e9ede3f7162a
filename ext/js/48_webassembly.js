// WebAssembly memories live outside the V8 heap and the ArrayBuffer allocator, so the
// memory limit is checked here before a memory exists: a Memory's initial size, each
// grow(), and the memories a module declares (native.wasmPrepare reads the module's memory
// section before V8 compiles it). Maximum sizes are lowered to what the budget allows, so
// memory.grow inside wasm fails (-1) instead of reaching gigabytes that one memory.fill
// could touch. Growth within that maximum is caught by the runtime after the call, which
// then discards the isolate. The same native refuses modules past ext/wasm_limits.h (size,
// functions, table entries, element segments), which V8 would compile or instantiate in one
// step that termination cannot stop.
// Compilation is synchronous, on the isolate's own thread: it counts against the request's
// time and CPU limits, and never waits on a background task the event loop cannot see.
// V8 adds the WebAssembly global only to contexts made from the snapshot, so the runtime
// calls this once per isolate, before any user code. The parentheses make V8 compile it
// with the bootstrap, so the snapshot carries its bytecode: compiled per isolate, on first
// call, it took a tenth of the CPU of an isolate's creation.
"use strict";

const installWebAssemblyLimits = (function installWebAssemblyLimits() {
  const { Memory: WasmMemory, Module: WasmModule, Instance: WasmInstance } = WebAssembly;
  const PAGE = 65536;
  const MAX_PAGES = 65536;
  const { apply: ReflectApply, construct: ReflectConstruct, defineProperty: ReflectDefineProperty } = Reflect;
  const { floor: MathFloor, min: MathMin, max: MathMax } = Math;
  const { get: weakGet, set: weakSet } = WeakMap.prototype;
  const originalGrow = WasmMemory.prototype.grow;
  const wasmPrepare = native.wasmPrepare;
  const memoryAvailable = native.memoryAvailable;
  // Bytes of memory each module's instances start with, for modules made here.
  const initialBytes = new WeakMap();

  function reserve(bytes, what) {
    if (bytes > memoryAvailable()) {
      throw new RangeError(`WebAssembly.Memory ${what}: ${bytes} bytes exceed the isolate's memory limit`);
    }
  }

  const replace = (function replace(owner, name, fn) {
    ReflectDefineProperty(fn, "name", { value: name });
    ReflectDefineProperty(owner, name, { value: fn, writable: true, configurable: true });
  });

  // The descriptor is read once, into a plain object V8 then reads: a getter cannot show
  // one size to the check and another to V8.
  function Memory(descriptor) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be invoked with 'new'");
    const target = new.target === Memory ? WasmMemory : new.target;
    if (descriptor === null || typeof descriptor !== "object") return ReflectConstruct(WasmMemory, [descriptor], target);
    const initial = +descriptor.initial;
    const rawMaximum = descriptor.maximum;
    const shared = !!descriptor.shared;
    const read = { initial, shared };
    if (initial >= 0) reserve(initial * PAGE, "initial size");
    const fits = MathFloor(memoryAvailable() / PAGE);
    if (rawMaximum !== undefined) {
      const maximum = +rawMaximum;
      read.maximum = maximum >= initial ? MathMax(initial, MathMin(maximum, fits)) : maximum;
    } else if (!shared && initial >= 0 && initial <= MAX_PAGES) {
      read.maximum = MathMax(initial, MathMin(MAX_PAGES, fits));
    }
    return ReflectConstruct(WasmMemory, [read], target);
  }
  Memory.prototype = WasmMemory.prototype;
  ReflectDefineProperty(WasmMemory.prototype, "constructor", { value: Memory, writable: true, configurable: true });
  replace(WasmMemory.prototype, "grow", function grow(delta) {
    const pages = +delta;
    if (pages > 0) reserve(pages * PAGE, "grow");
    return ReflectApply(originalGrow, this, [pages]);
  });

  function Module(source) {
    if (!new.target) throw new TypeError("WebAssembly.Module must be invoked with 'new'");
    const [bytes, initial] = wasmPrepare(source, memoryAvailable());
    const module = ReflectConstruct(WasmModule, [bytes], new.target === Module ? WasmModule : new.target);
    ReflectApply(weakSet, initialBytes, [module, initial]);
    return module;
  }
  for (const name of ["exports", "imports", "customSections"]) {
    ReflectDefineProperty(Module, name, { value: WasmModule[name], writable: true, configurable: true });
  }
  Module.prototype = WasmModule.prototype;
  ReflectDefineProperty(WasmModule.prototype, "constructor", { value: Module, writable: true, configurable: true });

  // Each instance allocates its module's declared memory again: checked against what is left now.
  function Instance(module, imports) {
    if (!new.target) throw new TypeError("WebAssembly.Instance must be invoked with 'new'");
    const initial = ReflectApply(weakGet, initialBytes, [module]);
    if (initial !== undefined) reserve(initial, "of the module's instance");
    return ReflectConstruct(WasmInstance, [module, imports], new.target === Instance ? WasmInstance : new.target);
  }
  Instance.prototype = WasmInstance.prototype;
  ReflectDefineProperty(WasmInstance.prototype, "constructor", { value: Instance, writable: true, configurable: true });

  // Whether `new Module` would accept the bytes: V8 answers false past its own implementation
  // limits, and this past the runtime's (ext/wasm_limits.h), before V8 reads the whole module.
  const originalValidate = WebAssembly.validate;
  function validate(source) {
    let bytes;
    try {
      [bytes] = wasmPrepare(source, memoryAvailable());
    } catch (error) {
      if (error instanceof RangeError) return false;
      throw error;
    }
    return ReflectApply(originalValidate, WebAssembly, [bytes]);
  }

  const replaced = [["Memory", Memory], ["Module", Module], ["Instance", Instance], ["validate", validate]];
  for (const [name, value] of replaced) {
    replace(WebAssembly, name, value);
  }

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
      if (source instanceof WasmModule) return new Instance(source, imports);
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
  for (const name of ["compile", "instantiate", "compileStreaming", "instantiateStreaming"]) {
    replace(WebAssembly, name, asyncApi[name]);
  }
});

Object.assign(internal, { installWebAssemblyLimits });
