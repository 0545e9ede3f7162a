// Natives behind CompressionStream and DecompressionStream (ext/js/56_compression.js): zlib
// streams in the "gzip", "deflate" and "deflate-raw" formats.
//
// zlibCreate returns a zero-length ArrayBuffer as the handle of one z_stream: its backing
// store points at the stream's state and its deleter frees it. V8 runs that deleter when the
// handle is collected and also when the isolate is disposed (weak callbacks would not run
// then), so no zlib state outlives its isolate. Handles exist only at run time, never in the
// startup snapshot. zlib's own memory and the output are allocated through the isolate's
// ArrayBuffer allocator, so they count against the memory limit: a decompression bomb gets
// a RangeError, not the host's memory. Each zlib call reads and writes at most kZlibStep
// bytes, and the call stops between them when its time or CPU limit is reached
// (ext/interruptible.h): a bomb or a huge chunk cannot hold the core past the limit.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "interruptible.h"
#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

using Allocator = v8::ArrayBuffer::Allocator;

// Input and output bytes of one zlib call: deflating this much of incompressible data takes
// about 10 ms here, inflating it far less.
constexpr size_t kZlibStep = 256u << 10;

// zlib allocations, through the isolate's allocator. A header in front of each block keeps
// its size, which Allocator::Free needs and zfree does not pass.
constexpr size_t kHeader = alignof(std::max_align_t);

voidpf ZAlloc(voidpf opaque, uInt items, uInt size) {
  size_t bytes = static_cast<size_t>(items) * size;
  auto* block = static_cast<char*>(static_cast<Allocator*>(opaque)->AllocateUninitialized(bytes + kHeader));
  if (block == nullptr) return Z_NULL;
  std::memcpy(block, &bytes, sizeof bytes);
  return block + kHeader;
}

void ZFree(voidpf opaque, voidpf address) {
  if (address == Z_NULL) return;
  char* block = static_cast<char*>(address) - kHeader;
  size_t bytes;
  std::memcpy(&bytes, block, sizeof bytes);
  static_cast<Allocator*>(opaque)->Free(block, bytes + kHeader);
}

struct ZlibState {
  z_stream zs{};
  bool inflating = false;
  bool live = false;   // zs holds zlib state that End() must free
  bool ended = false;  // the end of the (de)compressed stream was reached

  void End() {
    if (!live) return;
    if (inflating) {
      inflateEnd(&zs);
    } else {
      deflateEnd(&zs);
    }
    live = false;
  }
  ~ZlibState() { End(); }
};

// May run on a V8 background thread: it only frees memory.
void DeleteState(void* data, size_t, void*) { delete static_cast<ZlibState*>(data); }

ZlibState* StateOf(const Args& args) {
  if (args.Length() > 0 && args[0]->IsArrayBuffer()) {
    void* data = args[0].As<v8::ArrayBuffer>()->GetBackingStore()->Data();
    if (data != nullptr) return static_cast<ZlibState*>(data);
  }
  ThrowTypeError(args.GetIsolate(), "expected a zlib stream handle");
  return nullptr;
}

// Output bytes of one push, grown through the isolate's allocator.
class Output {
 public:
  explicit Output(Allocator* allocator) : allocator_(allocator) {}
  ~Output() {
    if (data_ != nullptr) allocator_->Free(data_, capacity_);
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Room for at least one more byte; false when the allocator refuses.
  bool Reserve(size_t hint) {
    if (size_ < capacity_) return true;
    size_t capacity = std::max<size_t>({hint, capacity_ * 2, 16 * 1024});
    auto* data = static_cast<char*>(allocator_->AllocateUninitialized(capacity));
    if (data == nullptr) return false;
    if (data_ != nullptr) {
      std::memcpy(data, data_, size_);
      allocator_->Free(data_, capacity_);
    }
    data_ = data;
    capacity_ = capacity;
    return true;
  }
  Bytef* next() { return reinterpret_cast<Bytef*>(data_ + size_); }
  uInt room() const { return static_cast<uInt>(std::min<size_t>(capacity_ - size_, kZlibStep)); }
  void Produced(size_t bytes) { size_ += bytes; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Allocator* allocator_;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

int WindowBits(const std::string& format) {
  if (format == "deflate") return 15;
  if (format == "deflate-raw") return -15;
  if (format == "gzip") return 15 + 16;
  return 0;
}

void ThrowOutOfMemory(v8::Isolate* isolate) { ThrowRangeError(isolate, "zlib: out of memory (memory limit)"); }

// zlibCreate(format, decompress) -> handle
void ZlibCreate(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  int window_bits = WindowBits(Utf8(isolate, args[0]));
  if (window_bits == 0) return ThrowTypeError(isolate, "unsupported compression format");
  auto state = std::make_unique<ZlibState>();
  state->inflating = args[1]->BooleanValue(isolate);
  state->zs.zalloc = ZAlloc;
  state->zs.zfree = ZFree;
  state->zs.opaque = isolate->GetArrayBufferAllocator();
  int rc = state->inflating ? inflateInit2(&state->zs, window_bits)
                            : deflateInit2(&state->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                                           Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) return rc == Z_MEM_ERROR ? ThrowOutOfMemory(isolate) : ThrowTypeError(isolate, "zlib: cannot start");
  state->live = true;
  auto store = v8::ArrayBuffer::NewBackingStore(state.release(), 0, DeleteState, nullptr);
  args.GetReturnValue().Set(v8::ArrayBuffer::New(isolate, std::move(store)));
}

// One zlib call sequence over `input`, kZlibStep bytes in and out at a time; false with a
// JS exception on failure or when the call is being stopped.
bool Run(v8::Isolate* isolate, ZlibState* state, std::string_view input, bool finish, Output* out) {
  z_stream& zs = state->zs;
  size_t offset = 0;
  for (bool first = true;; first = false) {
    if (!first && StopRequested(isolate)) {
      state->End();
      ThrowStopped(isolate);
      return false;
    }
    if (zs.avail_in == 0 && offset < input.size()) {
      size_t slice = std::min<size_t>(input.size() - offset, kZlibStep);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + offset));
      zs.avail_in = static_cast<uInt>(slice);
      offset += slice;
    }
    bool last_slice = offset == input.size();
    if (!out->Reserve(state->inflating ? input.size() * 2 : input.size() / 2 + 64)) {
      state->End();
      ThrowOutOfMemory(isolate);
      return false;
    }
    zs.next_out = out->next();
    zs.avail_out = out->room();
    uInt room = zs.avail_out;
    int flush = finish && last_slice && !state->inflating ? Z_FINISH : Z_NO_FLUSH;
    int rc = state->inflating ? inflate(&zs, flush) : deflate(&zs, flush);
    out->Produced(room - zs.avail_out);
    if (rc == Z_STREAM_END) {
      state->ended = true;
      bool junk = zs.avail_in > 0 || !last_slice;
      state->End();
      if (junk) {
        ThrowTypeError(isolate, "junk found after the end of the compressed data");
        return false;
      }
      return true;
    }
    if (rc == Z_OK || rc == Z_BUF_ERROR) {
      // zlib stops early only when the output is full: otherwise it took all the input.
      if (zs.avail_out == 0 || zs.avail_in > 0 || !last_slice) continue;
      if (finish && state->inflating) {
        state->End();
        ThrowTypeError(isolate, "the compressed data is truncated");
        return false;
      }
      return true;
    }
    std::string detail = zs.msg != nullptr ? std::string(": ") + zs.msg : std::string();
    state->End();
    if (rc == Z_MEM_ERROR) {
      ThrowOutOfMemory(isolate);
    } else if (rc == Z_NEED_DICT) {
      ThrowTypeError(isolate, "the compressed data needs a preset dictionary");
    } else {
      ThrowTypeError(isolate, "the compressed data is invalid" + detail);
    }
    return false;
  }
}

// zlibPush(handle, chunk, finish) -> Uint8Array of the bytes produced (possibly empty).
// `finish` ends the stream: compression writes its trailer, decompression requires the end.
void ZlibPush(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  ZlibState* state = StateOf(args);
  if (state == nullptr) return;
  std::string_view input;
  if (!RequireBytes(args, 1, &input)) return;
  bool finish = args[2]->BooleanValue(isolate);
  Output out(isolate->GetArrayBufferAllocator());
  if (state->ended) {
    if (!input.empty()) return ThrowTypeError(isolate, "junk found after the end of the compressed data");
  } else if (!state->live) {
    return ThrowTypeError(isolate, "the zlib stream is closed");
  } else if (!Run(isolate, state, input, finish, &out)) {
    return;
  }
  v8::Local<v8::Uint8Array> bytes;
  if (NewUint8Array(isolate, out.data(), out.size()).ToLocal(&bytes)) args.GetReturnValue().Set(bytes);
}

// zlibEnd(handle): frees the zlib state now (a cancelled or aborted stream).
void ZlibEnd(const Args& args) {
  ZlibState* state = StateOf(args);
  if (state != nullptr) state->End();
}

}  // namespace

std::vector<NativeFunction> CompressionNatives() {
  return {
      {"zlibCreate", ZlibCreate},
      {"zlibPush", ZlibPush},
      {"zlibEnd", ZlibEnd},
  };
}

}  // namespace pyruntime
