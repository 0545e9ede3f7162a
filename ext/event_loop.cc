#include "event_loop.h"

#include <algorithm>

#include "js_util.h"

namespace pyruntime {

namespace {
std::chrono::steady_clock::duration Ms(double ms) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double, std::milli>(ms));
}
}  // namespace

int64_t EventLoop::StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat) {
  if (timers_.size() >= kMaxTimers) {
    ThrowRangeError(isolate_, "too many pending timers (limit " + std::to_string(kMaxTimers) + ")");
    return -1;
  }
  if (!(delay_ms >= 0)) delay_ms = 0;
  delay_ms = std::min(delay_ms, 2147483647.0);
  int64_t id = next_timer_id_++;
  timers_.emplace(id, Timer{Clock::now() + Ms(delay_ms), delay_ms, repeat, v8::Global<v8::Function>(isolate_, callback)});
  return id;
}

void EventLoop::ClearTimer(int64_t id) { timers_.erase(id); }

v8::MaybeLocal<v8::Promise> EventLoop::StartHostOp(v8::Local<v8::Context> context, std::string name,
                                                   HostValue payload) {
  if (ops_.size() >= kMaxHostOps) {
    ThrowRangeError(isolate_, "too many pending host operations (limit " + std::to_string(kMaxHostOps) + ")");
    return {};
  }
  size_t bytes = HostValueBytes(payload);
  if (!memory_->Hold(bytes)) {
    ThrowRangeError(isolate_, "the payload of host operation " + name + " (" + std::to_string(bytes >> 20) +
                                  " MB) exceeds the isolate's memory limit");
    return {};
  }
  new_ops_bytes_ += bytes;
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  uint64_t id = next_op_id_++;
  ops_.emplace(id, v8::Global<v8::Promise::Resolver>(isolate_, resolver));
  new_ops_.push_back(HostOp{id, std::move(name), std::move(payload)});
  return resolver->GetPromise();
}

void EventLoop::CompleteOp(uint64_t id, bool ok, HostValue value) {
  size_t bytes = HostValueBytes(value);
  if (ok && bytes > memory_->limit_bytes()) {
    ok = false;
    value = HostValue::String("the operation's result (" + std::to_string(bytes >> 20) +
                              " MB) exceeds the isolate's memory limit");
    bytes = HostValueBytes(value);
  }
  std::lock_guard<std::mutex> lock(completions_mutex_);
  memory_->HoldUnchecked(bytes);
  completion_bytes_ += bytes;
  completions_.push_back(Completion{id, ok, std::move(value)});
}

void EventLoop::ApplyCompletions(v8::Local<v8::Context> context) {
  std::vector<Completion> completions;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(completions_mutex_);
    completions.swap(completions_);
    std::swap(bytes, completion_bytes_);
  }
  for (auto& completion : completions) {
    auto found = ops_.find(completion.id);
    if (found == ops_.end()) continue;
    v8::Local<v8::Promise::Resolver> resolver = found->second.Get(isolate_);
    ops_.erase(found);
    v8::TryCatch try_catch(isolate_);
    if (completion.ok) {
      v8::Local<v8::Value> value;
      if (ToJs(context, completion.value).ToLocal(&value)) {
        resolver->Resolve(context, value).FromMaybe(false);
      } else if (try_catch.HasCaught() && !try_catch.HasTerminated()) {
        resolver->Reject(context, try_catch.Exception()).FromMaybe(false);
      }
    } else {
      resolver->Reject(context, v8::Exception::Error(NewString(isolate_, completion.value.text))).FromMaybe(false);
    }
  }
  memory_->Release(bytes);
}

bool EventLoop::FireDueTimers(v8::Local<v8::Context> context, const std::function<void(v8::TryCatch&)>& on_error,
                              const std::function<bool()>& stop) {
  Clock::time_point now = Clock::now();
  std::vector<std::pair<Clock::time_point, int64_t>> due;
  for (const auto& [id, timer] : timers_) {
    if (timer.due <= now) due.emplace_back(timer.due, id);
  }
  std::sort(due.begin(), due.end());
  for (const auto& [when, id] : due) {
    auto found = timers_.find(id);
    if (found == timers_.end()) continue;
    v8::Local<v8::Function> callback = found->second.callback.Get(isolate_);
    if (found->second.repeat) {
      found->second.due = Clock::now() + Ms(found->second.interval_ms);
    } else {
      timers_.erase(found);
    }
    v8::TryCatch try_catch(isolate_);
    if (callback->Call(context, context->Global(), 0, nullptr).IsEmpty()) {
      if (try_catch.HasTerminated() || stop()) return true;
      on_error(try_catch);
    }
    isolate_->PerformMicrotaskCheckpoint();
    if (stop()) return true;
  }
  return !due.empty();
}

double EventLoop::NextTimerMs() const {
  if (timers_.empty()) return -1;
  auto next = std::min_element(timers_.begin(), timers_.end(),
                               [](const auto& a, const auto& b) { return a.second.due < b.second.due; });
  return std::max(0.0, std::chrono::duration<double, std::milli>(next->second.due - Clock::now()).count());
}

std::vector<HostOp> EventLoop::TakeNewOps() {
  std::vector<HostOp> ops = std::move(new_ops_);
  new_ops_.clear();
  memory_->Release(new_ops_bytes_);
  new_ops_bytes_ = 0;
  return ops;
}

bool EventLoop::Empty() {
  if (waiting() || !new_ops_.empty()) return false;
  std::lock_guard<std::mutex> lock(completions_mutex_);
  return completions_.empty();
}

void EventLoop::Reset() {
  timers_.clear();
  ops_.clear();
  TakeNewOps();
  std::lock_guard<std::mutex> lock(completions_mutex_);
  completions_.clear();
  memory_->Release(completion_bytes_);
  completion_bytes_ = 0;
}

}  // namespace pyruntime
