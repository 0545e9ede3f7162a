// The global scope is built once per process by running the bootstrap JS (ext/js/) in a
// V8 SnapshotCreator; every isolate then starts from that snapshot instead of running
// ~6,000 lines of JS again (about 1 ms instead of 10 per isolate). Before the blob is
// written, js/warmup/snapshot_warmup.js runs a few requests in a throwaway context so that
// the blob carries the request path's compiled code, not only its source.
#pragma once

#include <string>

#include <v8.h>

namespace pyruntime {

// Indexes of the objects kept in the snapshot beside the default context.
enum SnapshotSlot : size_t { kNativeSlot = 0, kInternalSlot = 1 };

// The snapshot blob, created on first use. Throws std::runtime_error with the JS stack if
// a bootstrap file fails.
v8::StartupData* StartupSnapshot();

// Why the warm-up failed (the snapshot is then cold, but works), or empty.
std::string SnapshotWarmupError();

// Installs a blob that SnapshotBlobBytes gave in an earlier process of this same build (the
// host keeps it on disk: pyruntime/engine/compile_cache.py), instead of making one. False,
// and nothing changes, if V8 finds it invalid or this process's snapshot already exists.
bool UseSnapshotBlob(const std::string& bytes);
// This process's blob (made now if it does not exist yet), for the host to keep.
std::string SnapshotBlobBytes();

}  // namespace pyruntime
