// Natives behind TextDecoder for every WHATWG encoding but UTF-8 (ext/js/10_encoding.js).
// The byte mappings come from ICU (libicuuc, which libnode links too); this file only picks
// the ICU converter that matches each WHATWG decoder and applies the WHATWG rules ICU's
// converters lack. Measured against the Encoding Standard's indexes
// (tests/vectors/make_encoding_vectors.mjs), with what is done about each difference:
//
// - Single-byte encodings: a 256-entry table per encoding is built once from ICU, then:
//   bytes 0x00-0x7F are ASCII in every WHATWG single-byte encoding (ICU's IBM866 swaps
//   0x1A, 0x1C and 0x7F); KOI8-U is the KOI8-RU variant (0xAE U+045E, 0xBE U+040E, where
//   ICU has box drawings); windows-1253 0xAA is unassigned and windows-1255 0xCA is U+05BA;
//   windows-874's 0xDB-0xDE and 0xFC-0xFF are unassigned (ICU: private use). ISO-8859-16 is
//   not in Debian's ICU data at all: its table comes from CPython's codec instead, generated
//   into codec_tables.h by scripts/make_codec_tables.py.
// - Shift_JIS: byte 0x80 is U+0080. gb18030 and GBK: byte 0x80 is U+20AC.
// - Big5: the four HKSCS sequences WHATWG spells with a combining mark (0x8862, 0x8864,
//   0x88A3, 0x88A5) come from ICU as private-use code points U+F325, U+F327, U+F344,
//   U+F346, and are rewritten. ICU's Big5-HKSCS table lacks or maps to private use 157
//   other pointers of WHATWG's index; those stay as ICU decodes them.
// - gb18030 before ICU 73 (Debian 12's ICU 72) follows GB18030-2005: 19 two-byte codes
//   that GB18030-2022 (and WHATWG) moved out of the private use area still decode to it.
// - EUC-JP, EUC-KR and Big5: WHATWG's indexes map nothing to C1 controls or private use,
//   where ICU maps single bytes (0x80-0xA0, 0xFF) and user-defined areas: those are errors.
//   EUC-JP's 0x8EE0-0x8EE2 (ICU: U+00A2, U+00A3, U+00AC) are errors too.
// - Shift_JIS: ICU swaps the control codes 0x1A, 0x1C and 0x7F (an IBM convention); they
//   decode as ASCII, as everywhere in WHATWG.
// - Multi-byte encodings: after a valid lead byte, an invalid ASCII trail byte is not part
//   of the error (WHATWG "prepends" it); ICU consumes it when its range is valid for a
//   trail, so the callback below writes it back after the U+FFFD. An invalid non-ASCII
//   byte after a lead is part of the error in WHATWG; ICU decodes it again on its own (a
//   second U+FFFD), so the callback steps over it. Not when ICU replays those bytes from
//   an earlier chunk: an invalid JIS X 0212 sequence (EUC-JP 0x8F) cut between chunks is
//   still two errors.
// - ISO-2022-JP: ICU ends the JIS X 0208 state at a newline and swallows the bytes of an
//   invalid escape sequence, where WHATWG reports an error and decodes them as text.
// - x-user-defined is not in ICU: 0x80-0xFF map to U+F780-U+F7FF by the standard's formula.
//
// A decoder handle is a zero-length ArrayBuffer whose backing store owns the decoder (as
// the zlib handles of compression_natives.cc). Each call decodes what it is given, keeping
// an incomplete sequence for the next call unless `flush`; the JS side cuts huge inputs
// into chunks, so a termination request is honoured between chunks.
#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>
#include <unicode/ucnv_err.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "codec_tables.h"
#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

enum class Kind { kSingleByte, kUserDefined, kIcu };

// WHATWG rules applied around one ICU converter.
enum class Quirk { kNone, kShiftJis, kGb18030, kBig5, kEucJp };

struct Encoding {
  const char* name;  // WHATWG name, lowercase
  const char* icu;   // ICU converter name
  Kind kind;
  Quirk quirk = Quirk::kNone;
  bool ascii_trail = false;     // an ASCII byte after a lead byte is never part of an error
  bool no_private_use = false;  // WHATWG's index maps nothing to C1 controls or private use
};

// WHATWG name -> ICU converter. The ICU names are the converters whose tables match the
// Encoding Standard's indexes best (measured; see above).
const Encoding kEncodings[] = {
    {"ibm866", "ibm-866_P100-1995", Kind::kSingleByte},
    {"iso-8859-2", "ibm-912_P100-1995", Kind::kSingleByte},
    {"iso-8859-3", "ibm-913_P100-2000", Kind::kSingleByte},
    {"iso-8859-4", "ibm-914_P100-1995", Kind::kSingleByte},
    {"iso-8859-5", "ibm-915_P100-1995", Kind::kSingleByte},
    {"iso-8859-6", "ibm-1089_P100-1995", Kind::kSingleByte},
    {"iso-8859-7", "ibm-9005_X110-2007", Kind::kSingleByte},
    {"iso-8859-8", "ibm-5012_P100-1999", Kind::kSingleByte},
    {"iso-8859-8-i", "ibm-5012_P100-1999", Kind::kSingleByte},
    {"iso-8859-10", "iso-8859_10-1998", Kind::kSingleByte},
    {"iso-8859-13", "ibm-921_P100-1995", Kind::kSingleByte},
    {"iso-8859-14", "iso-8859_14-1998", Kind::kSingleByte},
    {"iso-8859-15", "ibm-923_P100-1998", Kind::kSingleByte},
    {"koi8-r", "ibm-878_P100-1996", Kind::kSingleByte},
    {"koi8-u", "ibm-1168_P100-2002", Kind::kSingleByte},
    {"macintosh", "macos-0_2-10.2", Kind::kSingleByte},
    {"windows-874", "windows-874-2000", Kind::kSingleByte},
    {"windows-1250", "ibm-5346_P100-1998", Kind::kSingleByte},
    {"windows-1251", "ibm-5347_P100-1998", Kind::kSingleByte},
    {"windows-1252", "ibm-5348_P100-1997", Kind::kSingleByte},
    {"windows-1253", "ibm-5349_P100-1998", Kind::kSingleByte},
    {"windows-1254", "ibm-5350_P100-1998", Kind::kSingleByte},
    {"windows-1255", "ibm-9447_P100-2002", Kind::kSingleByte},
    {"windows-1256", "ibm-9448_X100-2005", Kind::kSingleByte},
    {"windows-1257", "ibm-9449_P100-2002", Kind::kSingleByte},
    {"windows-1258", "ibm-5354_P100-1998", Kind::kSingleByte},
    {"x-mac-cyrillic", "macos-7_3-10.2", Kind::kSingleByte},
    {"iso-8859-16", "", Kind::kSingleByte},  // not in ICU: codec_tables.h
    {"x-user-defined", "", Kind::kUserDefined},
    {"gbk", "gb18030", Kind::kIcu, Quirk::kGb18030, true},
    {"gb18030", "gb18030", Kind::kIcu, Quirk::kGb18030, true},
    {"big5", "ibm-1375_P100-2008", Kind::kIcu, Quirk::kBig5, true, true},
    {"euc-jp", "euc-jp-2007", Kind::kIcu, Quirk::kEucJp, true, true},
    {"iso-2022-jp", "ISO_2022,locale=ja,version=0", Kind::kIcu},
    {"shift_jis", "ibm-943_P15A-2003", Kind::kIcu, Quirk::kShiftJis, true},
    {"euc-kr", "windows-949-2000", Kind::kIcu, Quirk::kNone, true, true},
    {"utf-16be", "UTF-16BE", Kind::kIcu},
    {"utf-16le", "UTF-16LE", Kind::kIcu},
};

const Encoding* FindEncoding(const std::string& name) {
  for (const Encoding& encoding : kEncodings) {
    if (name == encoding.name) return &encoding;
  }
  return nullptr;
}

constexpr char16_t kReplacement = 0xFFFD;
// The JS side decodes in chunks of 1 MiB; this bounds the host memory of one call (the
// output and ICU's offsets) and the time it runs without a termination check.
constexpr size_t kMaxInput = 16u << 20;

// --- single-byte encodings: a table from ICU, corrected where WHATWG differs ----------

struct ByteTable {
  std::array<char16_t, 256> unit{};
  std::array<bool, 256> valid{};
};

struct ByteFix {
  const char* encoding;
  uint8_t byte;
  char16_t unit;  // 0: unassigned in WHATWG
};

const ByteFix kByteFixes[] = {
    {"koi8-u", 0xAE, 0x045E},      {"koi8-u", 0xBE, 0x040E},      {"windows-1253", 0xAA, 0},
    {"windows-1255", 0xCA, 0x05BA}, {"windows-874", 0xDB, 0},      {"windows-874", 0xDC, 0},
    {"windows-874", 0xDD, 0},       {"windows-874", 0xDE, 0},      {"windows-874", 0xFC, 0},
    {"windows-874", 0xFD, 0},       {"windows-874", 0xFE, 0},      {"windows-874", 0xFF, 0},
};

// Built once per encoding, shared by all isolates (any thread). Null if ICU lacks it.
const ByteTable* TableFor(const Encoding& encoding) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<ByteTable>> tables;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = tables.find(encoding.name);
  if (found != tables.end()) return found->second.get();
  std::unique_ptr<ByteTable> table;
  if (const char16_t* upper = GeneratedUpperHalf(encoding.name)) {
    table = std::make_unique<ByteTable>();
    for (int byte = 0; byte < 256; ++byte) {
      table->unit[byte] = byte < 0x80 ? static_cast<char16_t>(byte) : upper[byte - 0x80];
      table->valid[byte] = true;
    }
    return tables.emplace(encoding.name, std::move(table)).first->second.get();
  }
  UErrorCode status = U_ZERO_ERROR;
  UConverter* converter = ucnv_open(encoding.icu, &status);
  if (U_SUCCESS(status)) {
    ucnv_setToUCallBack(converter, UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &status);
    table = std::make_unique<ByteTable>();
    for (int byte = 0; byte < 256; ++byte) {
      if (byte < 0x80) {
        table->unit[byte] = static_cast<char16_t>(byte);
        table->valid[byte] = true;
        continue;
      }
      char in = static_cast<char>(byte);
      UChar out[4];
      status = U_ZERO_ERROR;
      ucnv_reset(converter);
      int32_t length = ucnv_toUChars(converter, out, 4, &in, 1, &status);
      if (U_SUCCESS(status) && length == 1) {
        table->unit[byte] = out[0];
        table->valid[byte] = true;
      }
    }
    for (const ByteFix& fix : kByteFixes) {
      if (std::string_view(fix.encoding) != encoding.name) continue;
      table->unit[fix.byte] = fix.unit;
      table->valid[fix.byte] = fix.unit != 0;
    }
    ucnv_close(converter);
  }
  return tables.emplace(encoding.name, std::move(table)).first->second.get();
}

// --- the decoder ----------------------------------------------------------------------

struct Decoder {
  const Encoding* encoding = nullptr;
  const ByteTable* table = nullptr;
  UConverter* converter = nullptr;
  bool fatal = false;
  bool failed = false;  // set by the callback in fatal mode
  std::string_view input;  // what the current call decodes (ICU may replay bytes from elsewhere)

  ~Decoder() { Close(); }
  // ICU converters are host memory the isolate's limit does not see: one is open only
  // between the first chunk of a stream and its flush.
  bool Open();
  void Close() {
    if (converter != nullptr) ucnv_close(converter);
    converter = nullptr;
  }
};

// May run on a V8 background thread: it only frees memory.
void DeleteDecoder(void* data, size_t, void*) { delete static_cast<Decoder*>(data); }

bool IsAscii(char byte) { return static_cast<unsigned char>(byte) < 0x80; }

// Whether `byte` starts a multi-byte sequence in the WHATWG decoder of `encoding`.
bool IsLead(const Encoding& encoding, char byte) {
  auto b = static_cast<unsigned char>(byte);
  if (!encoding.ascii_trail) return false;
  if (encoding.quirk == Quirk::kShiftJis) return (b >= 0x81 && b <= 0x9F) || (b >= 0xE0 && b <= 0xFC);
  if (encoding.quirk == Quirk::kEucJp) return b == 0x8E || b == 0x8F || (b >= 0xA1 && b <= 0xFE);
  return b >= 0x81 && b <= 0xFE;
}

// ICU calls this for each invalid or unmapped sequence.
void OnInvalid(const void* context, UConverterToUnicodeArgs* args, const char* units, int32_t length,
               UConverterCallbackReason reason, UErrorCode* status) {
  if (reason > UCNV_IRREGULAR) return;  // reset, close, clone: nothing to write
  auto* decoder = static_cast<Decoder*>(const_cast<void*>(context));
  Quirk quirk = decoder->encoding->quirk;
  if (length == 1 && static_cast<unsigned char>(units[0]) == 0x80 &&
      (quirk == Quirk::kShiftJis || quirk == Quirk::kGb18030)) {
    char16_t unit = quirk == Quirk::kShiftJis ? 0x0080 : 0x20AC;
    *status = U_ZERO_ERROR;
    ucnv_cbToUWriteUChars(args, reinterpret_cast<const UChar*>(&unit), 1, 0, status);
    return;
  }
  if (decoder->fatal) {
    decoder->failed = true;
    return;  // *status stays an error: ICU stops
  }
  bool truncated = *status == U_TRUNCATED_CHAR_FOUND;  // the input ended inside a sequence
  *status = U_ZERO_ERROR;
  char16_t written[2] = {kReplacement, 0};
  int32_t count = 1;
  if (length == 2 && !IsAscii(units[0]) && IsAscii(units[1]) && decoder->encoding->ascii_trail && !truncated) {
    written[count++] = static_cast<char16_t>(units[1]);
  }
  // A lead byte followed by a byte that cannot follow it: WHATWG's error takes that byte
  // too unless it is ASCII, where ICU would decode it again on its own.
  bool leads_only = (length == 1 && IsLead(*decoder->encoding, units[0])) ||
                    (length == 2 && quirk == Quirk::kEucJp && static_cast<unsigned char>(units[0]) == 0x8F &&
                     IsLead(*decoder->encoding, units[1]));  // JIS X 0212's three-byte form
  const char* end = decoder->input.data() + decoder->input.size();
  bool in_input = args->source >= decoder->input.data() && args->source < end;
  if (leads_only && !truncated && reason == UCNV_ILLEGAL && in_input && !IsAscii(*args->source)) {
    // ICU reports 0x8F alone when the third byte of a JIS X 0212 sequence does not fit:
    // WHATWG's error takes that byte too unless it is ASCII.
    bool jis0212 = length == 1 && static_cast<unsigned char>(units[0]) == 0x8F && IsLead(*decoder->encoding, *args->source);
    ++args->source;
    if (jis0212 && args->source < end && !IsAscii(*args->source)) ++args->source;
  }
  ucnv_cbToUWriteUChars(args, reinterpret_cast<const UChar*>(written), count, 0, status);
}

bool Decoder::Open() {
  if (converter != nullptr) return true;
  UErrorCode status = U_ZERO_ERROR;
  converter = ucnv_open(encoding->icu, &status);
  if (U_FAILURE(status)) return false;
  ucnv_setToUCallBack(converter, OnInvalid, this, nullptr, nullptr, &status);
  return U_SUCCESS(status);
}

bool IsPrivateOrC1(char16_t unit) { return (unit >= 0x80 && unit <= 0x9F) || (unit >= 0xE000 && unit <= 0xF8FF); }

// Rewrites ICU's output where WHATWG differs in ways only the source bytes tell apart.
// offsets[i] is where in `input` the sequence of unit i began, -1 for an earlier chunk.
// False on an error in fatal mode.
bool Amend(const Decoder& decoder, std::string_view input, const std::vector<int32_t>& offsets,
           std::u16string* text) {
  const Encoding& encoding = *decoder.encoding;
  std::u16string out;
  out.reserve(text->size() + 8);
  for (size_t i = 0; i < text->size(); ++i) {
    char16_t unit = (*text)[i];
    // ICU's offsets are not always right after it replayed bytes of an earlier chunk (seen:
    // garbage for a truncated sequence at the flush); an offset outside `input` is unknown (-2).
    int32_t at = offsets[i];
    if (at >= 0 && static_cast<size_t>(at) >= input.size()) at = -2;
    // ICU's Shift_JIS swaps 0x1A, 0x1C and 0x7F (IBM control codes); WHATWG keeps ASCII.
    if (encoding.quirk == Quirk::kShiftJis && (unit == 0x1A || unit == 0x1C || unit == 0x7F) && at >= 0 &&
        IsAscii(input[at])) {
      out += static_cast<char16_t>(input[at]);
      continue;
    }
    // WHATWG's Big5 decoder spells four HKSCS codes with a combining mark; ICU has them as
    // private-use code points.
    if (encoding.quirk == Quirk::kBig5) {
      const char16_t* pair = unit == 0xF325 ? u"\u00CA\u0304"
                             : unit == 0xF327 ? u"\u00CA\u030C"
                             : unit == 0xF344 ? u"\u00EA\u0304"
                             : unit == 0xF346 ? u"\u00EA\u030C"
                                              : nullptr;
      if (pair != nullptr) {
        out += pair;
        continue;
      }
    }
    // EUC-JP's 0x8E prefix is for half-width katakana only (ICU adds 0x8EE0-0x8EE2).
    bool not_katakana = encoding.quirk == Quirk::kEucJp && at >= 0 && static_cast<unsigned char>(input[at]) == 0x8E &&
                        (unit < 0xFF61 || unit > 0xFF9F);
    if (not_katakana) {
      if (decoder.fatal) return false;
      out += kReplacement;
      continue;
    }
    // User-defined areas and single bytes ICU maps and WHATWG does not: errors, keeping an
    // ASCII trail byte out of the error as the WHATWG decoders do.
    if (encoding.no_private_use && IsPrivateOrC1(unit)) {
      if (decoder.fatal) return false;
      out += kReplacement;
      // A sequence of two bytes, unless ICU mapped a single byte (0x80-0xA0, 0xFF) alone.
      auto lead = at < 0 ? 0 : static_cast<unsigned char>(input[at]);
      bool two_bytes = at == -1 || (lead >= 0x81 && lead <= 0xFE && lead != unit && !(lead == 0xA0 && unit >= 0xE000));
      size_t trail = at == -1 ? 0 : static_cast<size_t>(at) + 1;
      if (two_bytes && trail < input.size() && IsAscii(input[trail])) out += static_cast<char16_t>(input[trail]);
      continue;
    }
    out += unit;
  }
  text->swap(out);
  return true;
}

// Decodes with the decoder's single-byte table; false on the first error in fatal mode.
bool DecodeBytes(const Decoder& decoder, std::string_view input, std::u16string* out) {
  out->resize(input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    auto byte = static_cast<unsigned char>(input[i]);
    if (decoder.encoding->kind == Kind::kUserDefined) {
      (*out)[i] = byte < 0x80 ? byte : static_cast<char16_t>(0xF780 + byte - 0x80);
    } else if (decoder.table->valid[byte]) {
      (*out)[i] = decoder.table->unit[byte];
    } else if (decoder.fatal) {
      return false;
    } else {
      (*out)[i] = kReplacement;
    }
  }
  return true;
}

// Decodes through ICU; false on the first error in fatal mode (the stream starts over).
bool DecodeIcu(Decoder* decoder, std::string_view input, bool flush, std::u16string* out) {
  if (!decoder->Open()) return false;
  const char* source = input.data();
  const char* source_end = source + input.size();
  UErrorCode status = U_ZERO_ERROR;
  decoder->failed = false;
  decoder->input = input;
  std::vector<int32_t> offsets;
  size_t written = 0;
  // Rarely more than one round: the decoders here write about one UTF-16 unit per byte.
  for (size_t room = input.size() + 16;; room *= 2) {
    out->resize(written + room);
    offsets.resize(written + room);
    auto* start = reinterpret_cast<UChar*>(out->data());
    UChar* target = start + written;
    const char* base = source;
    status = U_ZERO_ERROR;
    ucnv_toUnicode(decoder->converter, &target, start + out->size(), &source, source_end, offsets.data() + written,
                   flush, &status);
    size_t end = target - start;
    for (size_t i = written; i < end; ++i) {
      if (offsets[i] >= 0) offsets[i] += static_cast<int32_t>(base - input.data());
    }
    written = end;
    if (status != U_BUFFER_OVERFLOW_ERROR) break;
  }
  out->resize(written);
  if (flush || decoder->failed || U_FAILURE(status)) decoder->Close();
  if (decoder->failed || U_FAILURE(status)) return false;
  if (decoder->encoding->quirk == Quirk::kNone && !decoder->encoding->no_private_use) return true;
  if (!Amend(*decoder, input, offsets, out)) {
    decoder->Close();
    return false;
  }
  return true;
}

Decoder* DecoderOf(const Args& args) {
  if (args.Length() > 0 && args[0]->IsArrayBuffer()) {
    void* data = args[0].As<v8::ArrayBuffer>()->GetBackingStore()->Data();
    if (data != nullptr) return static_cast<Decoder*>(data);
  }
  ThrowTypeError(args.GetIsolate(), "expected a decoder handle");
  return nullptr;
}

// decoderCreate(name, fatal) -> handle, for a WHATWG encoding name (lowercase).
void DecoderCreate(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  std::string name = Utf8(isolate, args[0]);
  auto decoder = std::make_unique<Decoder>();
  decoder->encoding = FindEncoding(name);
  decoder->fatal = args[1]->BooleanValue(isolate);
  if (decoder->encoding == nullptr) return ThrowRangeError(isolate, "unsupported encoding: " + name);
  if (decoder->encoding->kind == Kind::kSingleByte) {
    decoder->table = TableFor(*decoder->encoding);
    if (decoder->table == nullptr) return ThrowRangeError(isolate, "ICU lacks the encoding " + name);
  } else if (decoder->encoding->kind == Kind::kIcu) {
    if (!decoder->Open()) return ThrowRangeError(isolate, "ICU lacks the encoding " + name);
    decoder->Close();
  }
  auto store = v8::ArrayBuffer::NewBackingStore(decoder.release(), 0, DeleteDecoder, nullptr);
  args.GetReturnValue().Set(v8::ArrayBuffer::New(isolate, std::move(store)));
}

// decoderDecode(handle, bytes, flush) -> string. An incomplete sequence at the end is kept
// for the next call unless `flush`. In fatal mode invalid input throws a TypeError (and
// resets the decoder).
void DecoderDecode(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  Decoder* decoder = DecoderOf(args);
  if (decoder == nullptr) return;
  std::string_view input;
  if (!RequireBytes(args, 1, &input)) return;
  if (input.size() > kMaxInput) return ThrowRangeError(isolate, "decoderDecode takes at most 16 MiB at a time");
  bool flush = args[2]->BooleanValue(isolate);
  std::u16string text;
  bool ok = decoder->encoding->kind == Kind::kIcu ? DecodeIcu(decoder, input, flush, &text)
                                                   : DecodeBytes(*decoder, input, &text);
  if (!ok) {
    return ThrowTypeError(isolate, std::string("The encoded data was not valid for encoding ") +
                                       decoder->encoding->name);
  }
  if (text.size() > static_cast<size_t>(v8::String::kMaxLength)) {
    return ThrowRangeError(isolate, "decoded text exceeds the maximum string length");
  }
  v8::Local<v8::String> result;
  if (v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(text.data()),
                                 v8::NewStringType::kNormal, static_cast<int>(text.size()))
          .ToLocal(&result)) {
    args.GetReturnValue().Set(result);
  }
}

}  // namespace

std::vector<NativeFunction> EncodingNatives() {
  return {
      {"decoderCreate", DecoderCreate},
      {"decoderDecode", DecoderDecode},
  };
}

}  // namespace pyruntime
