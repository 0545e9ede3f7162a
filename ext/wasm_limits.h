// What one WebAssembly module may declare. V8 compiles a module, and makes an instance's
// tables, in steps termination cannot stop, in time (and for tables, memory) linear in these:
// measured on V8 10.2, a 7 MB module of a million functions took 1.5 s of CPU and 500 MB to
// compile, and a 29-byte module declaring three tables of 10M entries ran V8 out of heap
// (the process aborted). ext/wasm_natives.cc checks a module against them before V8 sees it;
// ext/v8_platform.cc gives V8 the bound on each table, which JS's WebAssembly.Table and
// `table.grow` inside wasm meet too.
#pragma once

#include <cstdint>

namespace pyruntime {

// Workers allow a 10 MB script in all; at about 6 ms of compilation per MB.
constexpr uint64_t kMaxWasmModuleBytes = uint64_t{16} << 20;
// What a module's sections declare, each compiled or made in time linear in its count (the
// time at V8's own bounds, measured with the instance made): a million types 62 to 168 ms,
// imports and exports 100,000 each 64 and 112 ms, a million globals 55 ms, 100,000
// functions 64 ms (compiled lazily, as V8 11 does by default). Modules that compilers write
// declare hundreds to thousands of each but functions.
constexpr uint64_t kMaxWasmTypes = 100000;
constexpr uint64_t kMaxWasmImports = 10000;
constexpr uint64_t kMaxWasmFunctions = 100000;
constexpr uint64_t kMaxWasmGlobals = 100000;
constexpr uint64_t kMaxWasmExports = 20000;
// Entries of one table, and of all the tables a module declares; a million took 45 ms.
constexpr uint64_t kMaxWasmTableEntries = 1000000;
// The element segments (a table's initial functions): a million one-entry segments took
// 150 ms, 15 MB of them 720 ms, 1 MiB 30 ms. Compilers write one segment, some bytes per
// function. A module at all these bounds at once compiled and made its instance in 136 to 174 ms.
constexpr uint64_t kMaxWasmElementSectionBytes = uint64_t{1} << 20;

}  // namespace pyruntime
