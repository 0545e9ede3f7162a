#include "request_line.h"

#include <charconv>

namespace pyruntime {

namespace {

void AppendInteger(int64_t value, std::string* out) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, end);
}

// Microseconds as milliseconds: "1.234", "1.23", "1.0", "0.017" (Python's repr of n / 1000).
void AppendMillis(int64_t micros, std::string* out) {
  AppendInteger(micros / 1000, out);
  int fraction = static_cast<int>(micros % 1000);
  char digits[4] = {'.', static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                    static_cast<char>('0' + fraction % 10)};
  size_t size = 4;
  while (size > 2 && digits[size - 1] == '0') --size;
  out->append(digits, size);
}

void AppendString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\f': out->append("\\f"); break;
      case '\r': out->append("\\r"); break;
      default: {
        char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out->append(escape, sizeof(escape));
      }
    }
  }
  out->append(text.data() + plain, text.size() - plain);
  out->push_back('"');
}

bool Writable(int64_t micros) { return micros >= 0 && micros < kRequestLineMaxMicros; }

}  // namespace

bool WriteRequestLine(const RequestLine& line, std::string* out) {
  if (!Writable(line.duration_us) || (line.cpu_us >= 0 && !Writable(line.cpu_us))) return false;
  out->reserve(out->size() + 200 + line.path.size() + line.app.size());
  out->append("{\"timestamp\":");
  AppendString(line.timestamp, out);
  out->append(",\"level\":\"info\",\"event\":\"request\",\"pid\":");
  AppendInteger(line.pid, out);
  out->append(",\"app\":");
  if (line.has_app) {
    AppendString(line.app, out);
  } else {
    out->append("null");
  }
  out->append(",\"request_id\":");
  AppendString(line.request_id, out);
  out->append(",\"method\":");
  AppendString(line.method, out);
  out->append(",\"path\":");
  AppendString(line.path, out);
  out->append(",\"status\":");
  AppendInteger(line.status, out);
  out->append(",\"duration_ms\":");
  AppendMillis(line.duration_us, out);
  out->append(",\"cpu_ms\":");
  if (line.cpu_us >= 0) {
    AppendMillis(line.cpu_us, out);
  } else {
    out->append("null");
  }
  out->append("}\n");
  return true;
}

}  // namespace pyruntime
