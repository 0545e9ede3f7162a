#include "host_value.h"

#include <array>
#include <cmath>
#include <string_view>

#include "handles.h"
#include "http_headers.h"
#include "interruptible.h"
#include "js_util.h"
#include "string_pieces.h"

namespace pyruntime {

namespace {

// Deeper values than this are refused rather than risk the C++ stack.
constexpr int kMaxDepth = 512;
// Array elements and object entries in one value: each becomes a host allocation outside
// the isolate's memory limit, and a sparse array can claim billions of them.
constexpr size_t kMaxItems = size_t{1} << 20;
constexpr double kMaxSafeInteger = 9007199254740991.0;

class Reader {
 public:
  Reader(v8::Local<v8::Context> context, const std::function<bool()>& stop, bool handles,
         v8::Local<v8::Function> object_keys)
      : context_(context), isolate_(context->GetIsolate()), stop_(stop), handles_(handles),
        object_keys_(object_keys) {}

  bool Read(v8::Local<v8::Value> value, HostValue* out, int depth) {
    if (value->IsUndefined()) {
      *out = HostValue::Undefined();
      return true;
    }
    if (value->IsNull()) {
      *out = HostValue::Null();
      return true;
    }
    if (value->IsBoolean()) {
      *out = HostValue::Bool(value->IsTrue());
      return true;
    }
    if (value->IsNumber()) {
      double number = value.As<v8::Number>()->Value();
      if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) <= kMaxSafeInteger) {
        *out = HostValue::Int(static_cast<int64_t>(number));
      } else {
        *out = HostValue::Float(number);
      }
      return true;
    }
    if (value->IsBigInt()) {
      auto big = value.As<v8::BigInt>();
      int count = big->WordCount();
      out->kind = HostValue::Kind::kBigInt;
      out->words.resize(count);
      int sign = 0;
      big->ToWordsArray(&sign, &count, out->words.data());
      out->words.resize(count);
      out->boolean = sign != 0;
      return true;
    }
    if (value->IsString()) {
      out->kind = HostValue::Kind::kString;
      return Utf8InSteps(isolate_, value.As<v8::String>(), [this] { return StopNow(); }, &out->text) || Stop();
    }
    if (value->IsUint8Array() || value->IsArrayBuffer()) {
      std::string_view bytes;
      BytesOf(value, &bytes);
      out->kind = HostValue::Kind::kBytes;
      return CopyInSteps(bytes, &out->text) || Stop();
    }
    if (value->IsArray()) return ReadArray(value.As<v8::Array>(), out, depth);
    if (value->IsDate()) {
      out->kind = HostValue::Kind::kDate;
      out->number = value.As<v8::Date>()->ValueOf();
      return true;
    }
    if (value->IsObject() && IsPlainObject(value.As<v8::Object>())) {
      return ReadObject(value.As<v8::Object>(), out, depth);
    }
    if (handles_ && value->IsObject()) return Keep(value, out);
    return Refuse(value);
  }

  std::string error;

 private:
  // Plain: created by an object literal (or with a null prototype). The intrinsic
  // Object.prototype comes from a fresh literal, not from globalThis.Object, which user
  // code may replace or turn into a throwing getter.
  bool IsPlainObject(v8::Local<v8::Object> object) {
    if (object->IsProxy() || object->IsCallable()) return false;
    v8::Local<v8::Value> proto = object->GetPrototype();
    if (proto->IsNull()) return true;
    if (object_prototype_.IsEmpty()) object_prototype_ = v8::Object::New(isolate_)->GetPrototype();
    return proto->StrictEquals(object_prototype_);
  }

  bool Enter(v8::Local<v8::Object> object, int depth) {
    if (depth > kMaxDepth) {
      error = "value is nested more than " + std::to_string(kMaxDepth) + " levels deep";
      return false;
    }
    for (auto& seen : path_) {
      if (seen->StrictEquals(object)) {
        error = "value contains a cycle";
        return false;
      }
    }
    path_.push_back(object);
    return true;
  }

  bool ReadArray(v8::Local<v8::Array> array, HostValue* out, int depth) {
    if (!Enter(array, depth)) return false;
    out->kind = HostValue::Kind::kList;
    uint32_t length = array->Length();
    if (!Count(length)) return false;
    out->items.resize(length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::Local<v8::Value> item;
      if (Stopped()) return false;
      if (!array->Get(context_, i).ToLocal(&item)) return Thrown();
      if (!Read(item, &out->items[i], depth + 1)) return false;
      if (out->items[i].kind == HostValue::Kind::kUndefined) out->items[i] = HostValue::Null();
    }
    path_.pop_back();
    return true;
  }

  bool ReadObject(v8::Local<v8::Object> object, HostValue* out, int depth) {
    if (!Enter(object, depth)) return false;
    out->kind = HostValue::Kind::kDict;
    v8::Local<v8::Array> keys;
    if (!OwnKeys(object).ToLocal(&keys)) return Thrown();
    uint32_t length = keys->Length();
    if (!Count(length)) return false;
    out->entries.reserve(length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::Local<v8::Value> key;
      v8::Local<v8::Value> item;
      if (Stopped()) return false;
      if (!keys->Get(context_, i).ToLocal(&key) || !object->Get(context_, key).ToLocal(&item)) {
        return Thrown();
      }
      HostValue converted;
      if (!Read(item, &converted, depth + 1)) return false;
      if (converted.kind == HostValue::Kind::kUndefined) converted = HostValue::Null();
      out->entries.emplace_back(KeyText(key), std::move(converted));
    }
    path_.pop_back();
    return true;
  }

  // Own enumerable string keys, as Object.keys lists them: symbol keys are left out (as
  // JSON.stringify leaves them). A plain object runs no code of its own while listed.
  v8::MaybeLocal<v8::Array> OwnKeys(v8::Local<v8::Object> object) {
    if (object_keys_.IsEmpty()) {
      auto filter = static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS);
      return object->GetOwnPropertyNames(context_, filter, v8::KeyConversionMode::kConvertToString);
    }
    v8::Local<v8::Value> argument = object;
    v8::Local<v8::Value> keys;
    if (!object_keys_->Call(context_, v8::Undefined(isolate_), 1, &argument).ToLocal(&keys) || !keys->IsArray()) {
      return {};
    }
    return keys.As<v8::Array>();
  }

  // The UTF-8 of a property name. Records share their keys: objects of one shape list the
  // same internalized strings, so the last few names read are kept, found by identity.
  const std::string& KeyText(v8::Local<v8::Value> key) {
    for (auto& [name, text] : recent_keys_) {
      if (name == key) return text;
    }
    auto& slot = recent_keys_[next_key_++ % recent_keys_.size()];
    slot = {key, Utf8(isolate_, key)};
    return slot.second;
  }

  bool Count(size_t items) {
    items_ += items;
    if (items_ > kMaxItems) {
      error = "value has more than " + std::to_string(kMaxItems) + " array elements and object entries";
      return false;
    }
    return true;
  }

  // Called per item read: every few thousand, asks whether the call must stop.
  bool Stopped() {
    if (!stop_ || ++reads_ % 4096 != 0 || !stop_()) return false;
    Stop();
    return true;
  }

  bool StopNow() { return stop_ && stop_(); }

  bool Stop() {
    error = "conversion stopped: the call was terminated";
    return false;
  }

  // Large buffers are copied in steps, asking between them whether to stop. Reserved, not
  // resized: the pages are touched only as far as the copy gets.
  bool CopyInSteps(std::string_view bytes, std::string* out) {
    out->reserve(bytes.size());
    for (size_t offset = 0; offset < bytes.size(); offset += kStepBytes) {
      if (offset > 0 && StopNow()) return false;
      out->append(bytes.substr(offset, kStepBytes));
    }
    return true;
  }

  bool Keep(v8::Local<v8::Value> value, HostValue* out) {
    HandleTable* table = HandleTable::Of(isolate_);
    uint64_t id = table == nullptr ? 0 : table->Keep(isolate_, value);
    if (id == 0) {
      error = "too many JS values are held by the host (" + std::to_string(HandleTable::kMaxHandles) + ")";
      return false;
    }
    out->kind = HostValue::Kind::kHandle;
    out->integer = static_cast<int64_t>(id);
    out->text = JsTypeName(context_, value);
    return true;
  }

  bool Refuse(v8::Local<v8::Value> value) {
    error = "cannot convert a JS " + JsTypeName(context_, value) + " to a Python value";
    return false;
  }

  bool Thrown() {
    error = "a getter threw while converting the value";
    return false;
  }

  v8::Local<v8::Context> context_;
  v8::Isolate* isolate_;
  const std::function<bool()>& stop_;
  bool handles_;
  v8::Local<v8::Function> object_keys_;
  v8::Local<v8::Value> object_prototype_;
  size_t items_ = 0;
  size_t reads_ = 0;
  std::vector<v8::Local<v8::Object>> path_;
  std::array<std::pair<v8::Local<v8::Value>, std::string>, 16> recent_keys_;
  size_t next_key_ = 0;
};

}  // namespace

HostValue HostValue::Undefined() {
  HostValue v;
  v.kind = Kind::kUndefined;
  return v;
}
HostValue HostValue::Bool(bool value) {
  HostValue v;
  v.kind = Kind::kBool;
  v.boolean = value;
  return v;
}
HostValue HostValue::Int(int64_t value) {
  HostValue v;
  v.kind = Kind::kInt;
  v.integer = value;
  return v;
}
HostValue HostValue::Float(double value) {
  HostValue v;
  v.kind = Kind::kFloat;
  v.number = value;
  return v;
}
HostValue HostValue::String(std::string value) {
  HostValue v;
  v.kind = Kind::kString;
  v.text = std::move(value);
  return v;
}
HostValue HostValue::Bytes(std::string value) {
  HostValue v;
  v.kind = Kind::kBytes;
  v.text = std::move(value);
  return v;
}

bool FromJs(v8::Local<v8::Context> context, v8::Local<v8::Value> value, HostValue* out, std::string* error,
            const std::function<bool()>& stop, bool handles, v8::Local<v8::Function> object_keys) {
  Reader reader(context, stop, handles, object_keys);
  if (reader.Read(value, out, 0)) return true;
  *error = reader.error;
  return false;
}

std::string JsTypeName(v8::Local<v8::Context> context, v8::Local<v8::Value> value) {
  v8::Isolate* isolate = context->GetIsolate();
  if (value->IsSymbol()) return "symbol";
  if (value->IsFunction()) return "function";
  if (value->IsProxy()) return "Proxy";
  if (value->IsObject()) {
    v8::Local<v8::String> name = value.As<v8::Object>()->GetConstructorName();
    std::string text = Utf8(isolate, name);
    return text.empty() ? "object" : text;
  }
  v8::Local<v8::String> type = value->TypeOf(isolate);
  return Utf8(isolate, type);
}

namespace {

// Builds a JS value from a HostValue tree, one handle scope per node.
class Writer {
 public:
  explicit Writer(v8::Local<v8::Context> context) : context_(context), isolate_(context->GetIsolate()) {}

  v8::MaybeLocal<v8::Value> Write(const HostValue& value);

 private:
  v8::MaybeLocal<v8::Value> HeaderList(const HostValue& value);

  // A property name, internalized as V8 makes every property name: records with the same
  // keys then share one hidden class. Records repeat their keys, so the names of small
  // objects (`recent`: no more keys than are kept) are kept (as globals: each node's handle
  // scope ends with the node) and searched from after the last one used, sparing the string
  // table a lookup for every record's every key. A larger object is a map of distinct keys,
  // which the search would only slow.
  v8::MaybeLocal<v8::String> Key(const std::string& key, bool recent) {
    if (!recent) return NewStringOrThrow(isolate_, key, v8::NewStringType::kInternalized);
    for (size_t n = 0; n < keys_.size(); ++n) {
      size_t i = (last_ + 1 + n) % keys_.size();
      if (keys_[i].first != nullptr && *keys_[i].first == key) {
        last_ = i;
        return keys_[i].second.Get(isolate_);
      }
    }
    v8::Local<v8::String> name;
    if (!NewStringOrThrow(isolate_, key, v8::NewStringType::kInternalized).ToLocal(&name)) return {};
    last_ = next_++ % keys_.size();
    keys_[last_].first = &key;
    keys_[last_].second.Reset(isolate_, name);
    return name;
  }

  v8::Local<v8::Context> context_;
  v8::Isolate* isolate_;
  std::array<std::pair<const std::string*, v8::Global<v8::String>>, 16> keys_;
  size_t next_ = 0;
  size_t last_ = 0;
};

}  // namespace

// [plain, [name0, value0, ...]]: `plain` when every header is in the shape Headers keeps
// (http_headers.h), and JS then takes them as they are; else JS runs them through append().
// Flat, with JS making the pairs: the API's Array::New costs some 900 instructions each.
v8::MaybeLocal<v8::Value> Writer::HeaderList(const HostValue& value) {
  size_t count = value.words.size();
  std::vector<v8::Local<v8::Value>> strings(count);
  bool plain = true;
  size_t start = 0;
  for (size_t i = 0; i < count; ++i) {
    std::string_view bytes(value.text.data() + start, value.words[i] - start);
    plain = plain && (i % 2 == 0 ? IsPlainHeaderName(bytes) : IsPlainHeaderValue(bytes));
    v8::Local<v8::String> string;
    if (!NewLatin1StringOrThrow(isolate_, bytes).ToLocal(&string)) return {};
    strings[i] = string;
    start = value.words[i];
  }
  v8::Local<v8::Value> result[] = {v8::Boolean::New(isolate_, plain),
                                   v8::Array::New(isolate_, strings.data(), count)};
  return v8::Array::New(isolate_, result, 2);
}

v8::MaybeLocal<v8::Value> Writer::Write(const HostValue& value) {
  v8::Local<v8::Context> context = context_;
  v8::Isolate* isolate = isolate_;
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Value> result;
  switch (value.kind) {
    case HostValue::Kind::kNull:
      result = v8::Null(isolate);
      break;
    case HostValue::Kind::kUndefined:
      result = v8::Undefined(isolate);
      break;
    case HostValue::Kind::kBool:
      result = v8::Boolean::New(isolate, value.boolean);
      break;
    case HostValue::Kind::kInt:
      result = v8::Number::New(isolate, static_cast<double>(value.integer));
      break;
    case HostValue::Kind::kFloat:
      result = v8::Number::New(isolate, value.number);
      break;
    case HostValue::Kind::kBigInt: {
      v8::Local<v8::BigInt> big;
      if (!v8::BigInt::NewFromWords(context, value.boolean ? 1 : 0, static_cast<int>(value.words.size()),
                                    value.words.data())
               .ToLocal(&big)) {
        return {};
      }
      result = big;
      break;
    }
    case HostValue::Kind::kString: {
      v8::Local<v8::String> string;
      if (!NewStringOrThrow(isolate, value.text).ToLocal(&string)) return {};
      result = string;
      break;
    }
    case HostValue::Kind::kBytes: {
      v8::Local<v8::Uint8Array> bytes;
      if (!NewUint8Array(isolate, value.text.data(), value.text.size()).ToLocal(&bytes)) return {};
      result = bytes;
      break;
    }
    case HostValue::Kind::kList: {
      // Made whole from its items: V8 then builds a packed array at once, where setting
      // index by index goes through its generic element store for each.
      std::vector<v8::Local<v8::Value>> items(value.items.size());
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (!Write(value.items[i]).ToLocal(&items[i])) return {};
      }
      result = v8::Array::New(isolate, items.data(), items.size());
      break;
    }
    case HostValue::Kind::kHeaderList:
      if (!HeaderList(value).ToLocal(&result)) return {};
      break;
    case HostValue::Kind::kDate:
      if (!v8::Date::New(context, value.number).ToLocal(&result)) return {};
      break;
    case HostValue::Kind::kHandle: {
      HandleTable* table = HandleTable::Of(isolate);
      if (table == nullptr || !table->Get(isolate, static_cast<uint64_t>(value.integer)).ToLocal(&result)) {
        isolate->ThrowException(v8::Exception::ReferenceError(NewString(isolate, "the JS value was released")));
        return {};
      }
      break;
    }
    case HostValue::Kind::kDict: {
      auto object = v8::Object::New(isolate);
      bool recent = value.entries.size() <= keys_.size();
      for (const auto& [key, item_value] : value.entries) {
        v8::Local<v8::String> name;
        v8::Local<v8::Value> item;
        if (!Key(key, recent).ToLocal(&name) || !Write(item_value).ToLocal(&item) ||
            object->CreateDataProperty(context, name, item).IsNothing()) {
          return {};
        }
      }
      result = object;
      break;
    }
  }
  return scope.Escape(result);
}

v8::MaybeLocal<v8::Value> ToJs(v8::Local<v8::Context> context, const HostValue& value) {
  return Writer(context).Write(value);
}

}  // namespace pyruntime
