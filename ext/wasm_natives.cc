// WebAssembly memories live outside the V8 heap and the ArrayBuffer allocator. A module's
// declared memory is checked against the isolate's remaining budget before V8 compiles it:
// its initial size must fit, and its maximum is lowered to what fits (memory.grow past it
// then fails with -1, as the spec allows), so that wasm code cannot grow and touch gigabytes
// in one instruction (memory.fill) before the runtime can look. Its size, the counts its
// sections declare, its tables and its element segments are checked against ext/wasm_limits.h.
#include <cstdint>
#include <string>
#include <string_view>

#include "js_util.h"
#include "native_bindings.h"
#include "wasm_limits.h"

namespace pyruntime {

namespace {

constexpr uint64_t kPageBytes = 65536;
constexpr uint64_t kMaxPages = 65536;  // 4 GB, wasm32's address space
constexpr uint8_t kTableSectionId = 4;
constexpr uint8_t kMemorySectionId = 5;
constexpr uint8_t kElementSectionId = 9;

// The sections that begin with the count of what they declare, and its bound.
struct CountBound {
  uint8_t section;
  uint64_t max;
  const char* what;
};
constexpr CountBound kCountBounds[] = {
    {1, kMaxWasmTypes, "types"},     {2, kMaxWasmImports, "imports"}, {3, kMaxWasmFunctions, "functions"},
    {6, kMaxWasmGlobals, "globals"}, {7, kMaxWasmExports, "exports"},
};

bool ReadLeb(std::string_view bytes, size_t* pos, uint64_t* out) {
  uint64_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*pos >= bytes.size()) return false;
    auto byte = static_cast<uint8_t>(bytes[(*pos)++]);
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *out = value;
      return true;
    }
  }
  return false;
}

void WriteLeb(std::string* out, uint64_t value) {
  do {
    uint8_t byte = value & 0x7f;
    value >>= 7;
    out->push_back(static_cast<char>(value != 0 ? byte | 0x80 : byte));
  } while (value != 0);
}

struct Prepared {
  std::string bytes;
  uint64_t initial_bytes = 0;
  std::string error;  // a RangeError message
};

// The entries the tables of a table section declare at first, in all; false if the section
// is in an encoding this does not read (V8 refuses it unless an experimental flag is on).
bool TableEntries(std::string_view payload, uint64_t* entries) {
  size_t at = 0;
  uint64_t count = 0;
  if (!ReadLeb(payload, &at, &count) || count > payload.size()) return false;
  *entries = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 2 > payload.size()) return false;
    auto type = static_cast<uint8_t>(payload[at++]);
    auto flags = static_cast<uint8_t>(payload[at++]);
    uint64_t initial = 0;
    uint64_t maximum = 0;
    if ((type != 0x70 && type != 0x6f) || flags > 1 || !ReadLeb(payload, &at, &initial) ||
        ((flags & 1) && !ReadLeb(payload, &at, &maximum))) {
      return false;
    }
    *entries += initial;
  }
  return true;
}

// Copies the module, with each declared memory checked and its maximum lowered to what
// `available` bytes allow, after checking its size, the counts its sections declare, its
// tables and its element section (wasm_limits.h).
// Malformed input is copied unchanged: V8 reports it as a CompileError.
Prepared PrepareModule(std::string_view bytes, uint64_t available) {
  Prepared out;
  if (bytes.size() > kMaxWasmModuleBytes) {
    out.error = "WebAssembly module of " + std::to_string(bytes.size()) + " bytes, more than the " +
                std::to_string(kMaxWasmModuleBytes) + " a module may have";
    return out;
  }
  std::string memory_section;  // the memory section as rewritten, if the module has one
  size_t memory_start = 0;
  size_t memory_end = 0;
  size_t pos = 8;  // magic and version
  while (pos < bytes.size()) {
    size_t section_start = pos;
    auto id = static_cast<uint8_t>(bytes[pos++]);
    uint64_t size = 0;
    if (!ReadLeb(bytes, &pos, &size) || size > bytes.size() - pos) break;
    size_t payload_end = pos + size;
    std::string_view payload = bytes.substr(pos, size);
    pos = payload_end;
    size_t at = 0;
    uint64_t count = 0;
    for (const CountBound& bound : kCountBounds) {
      if (id == bound.section && ReadLeb(payload, &at, &count) && count > bound.max) {
        out.error = "WebAssembly module declares " + std::to_string(count) + " " + bound.what + ", more than the " +
                    std::to_string(bound.max) + " a module may have";
        return out;
      }
    }
    uint64_t entries = 0;
    if (id == kTableSectionId && TableEntries(payload, &entries) && entries > kMaxWasmTableEntries) {
      out.error = "WebAssembly module declares tables of " + std::to_string(entries) + " entries in all, more than the " +
                  std::to_string(kMaxWasmTableEntries) + " a module may have";
      return out;
    }
    if (id == kElementSectionId && size > kMaxWasmElementSectionBytes) {
      out.error = "WebAssembly module's element section takes " + std::to_string(size) + " bytes, more than the " +
                  std::to_string(kMaxWasmElementSectionBytes) + " a module may have";
      return out;
    }
    if (id != kMemorySectionId || memory_end != 0) continue;
    if (!ReadLeb(payload, &at, &count) || count > payload.size()) break;
    std::string section;
    WriteLeb(&section, count);
    for (uint64_t i = 0; i < count; ++i) {
      if (at >= payload.size()) return Prepared{std::string(bytes), 0, {}};
      auto flags = static_cast<uint8_t>(payload[at++]);
      uint64_t initial = 0;
      uint64_t maximum = kMaxPages;
      if (flags > 3 || !ReadLeb(payload, &at, &initial) || ((flags & 1) && !ReadLeb(payload, &at, &maximum))) {
        return Prepared{std::string(bytes), 0, {}};
      }
      if (initial > kMaxPages || initial * kPageBytes > available) {
        out.error = "WebAssembly module declares a memory of " + std::to_string(initial) + " pages (" +
                    std::to_string(initial * kPageBytes) + " bytes), more than the " + std::to_string(available) +
                    " bytes left of the isolate's memory limit";
        return out;
      }
      out.initial_bytes += initial * kPageBytes;
      uint64_t fits = available / kPageBytes;
      if (maximum > fits) maximum = fits < initial ? initial : fits;
      section.push_back(static_cast<char>(flags | 1));
      WriteLeb(&section, initial);
      WriteLeb(&section, maximum);
    }
    memory_section.push_back(static_cast<char>(kMemorySectionId));
    WriteLeb(&memory_section, section.size());
    memory_section += section;
    memory_start = section_start;
    memory_end = payload_end;
  }
  if (memory_end == 0) {
    out.bytes.assign(bytes);
    return out;
  }
  out.bytes.assign(bytes.substr(0, memory_start));
  out.bytes += memory_section;
  out.bytes.append(bytes.substr(memory_end));
  return out;
}

// wasmPrepare(bufferSource, availableBytes) -> [Uint8Array, initialMemoryBytes]
void WasmPrepare(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::string_view source;
  if (!BytesOf(args[0], &source)) {
    return ThrowTypeError(isolate, "WebAssembly.Module(): Argument 0 must be a buffer source");
  }
  double available = args[1]->NumberValue(context).FromMaybe(0);
  Prepared prepared = PrepareModule(source, available > 0 ? static_cast<uint64_t>(available) : 0);
  if (!prepared.error.empty()) return ThrowRangeError(isolate, prepared.error);
  v8::Local<v8::Uint8Array> bytes;
  if (!NewUint8Array(isolate, prepared.bytes.data(), prepared.bytes.size()).ToLocal(&bytes)) return;
  v8::Local<v8::Value> parts[] = {bytes, v8::Number::New(isolate, static_cast<double>(prepared.initial_bytes))};
  args.GetReturnValue().Set(v8::Array::New(isolate, parts, 2));
}

}  // namespace

std::vector<NativeFunction> WasmNatives() { return {{"wasmPrepare", WasmPrepare}}; }

}  // namespace pyruntime
