// Request headers the Headers class can adopt as they are (ext/js/60_headers.js,
// headersFromHost): a name that is a lowercase token and a value with nothing for append() to
// strip or refuse. The servers' parsers hand over headers in that shape, and checking their
// bytes here spares JS a test per name and per value: some 5 µs for a browser's sixteen
// headers. A header in any other shape goes through append() in JS, which normalizes it or
// refuses it with its own error.
#pragma once

#include <string_view>

namespace pyruntime {

// A token (RFC 9110) of lowercase letters, digits and !#$%&'*+-.^_`|~, as append() leaves a name.
bool IsPlainHeaderName(std::string_view name);

// Empty, or no NUL, CR or LF, and no space or tab at either end: a value append() keeps as it is.
bool IsPlainHeaderValue(std::string_view value);

}  // namespace pyruntime
