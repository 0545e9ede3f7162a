// A whole HTTP/1.1 response, head and body, in one buffer: for the answers h1's JS pass has in
// hand (pyruntime/server/h1_server.py). The framing rules are the server's Python path's
// (pyruntime/server/app.py `_whole_answer`, then h1_server.py `_Exchange._head`), applied in
// one pass over the app's headers: that path cost some forty Python calls per response.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pyruntime {

struct Http1Answer {
  int status = 200;
  std::string_view status_line;  // "HTTP/1.1 200 OK\r\n"
  std::string_view date_line;    // the server's "date: ...\r\n", sent when the app gave no Date
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // the app's, in its order
  std::string_view request_id;   // sent as X-Request-ID, in place of any the app gave
  std::string_view body;
  bool head_request = false;     // HEAD: the head a GET would get, without its body
  bool keep_alive = true;        // the connection stays open after this response
  bool http10 = false;           // an HTTP/1.0 request: its keep-alive is said out loud
};

// Appends the response to `out`. The app's headers keep their order, with lowercase names,
// less those the server owns (Connection, Keep-Alive, Transfer-Encoding, Content-Length,
// Upgrade, and X-Request-ID, which is ours). Content-Length is the body's, except: none on a
// 204; on a 304, and on a HEAD answered without a body, the one the app gave (the length of
// the body a GET gets; 0 for a HEAD that gave none). No body on a HEAD, a 204 or a 304.
// False, with `error` naming the header, when a name or value holds CR, LF or NUL: the app's
// Headers let none through, and a line break would let a response smuggle headers in.
bool WriteHttp1Answer(const Http1Answer& answer, std::string* out, std::string* error);

}  // namespace pyruntime
