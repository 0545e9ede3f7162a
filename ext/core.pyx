# cython: language_level=3
# distutils: language = c++
"""pyruntime._core: the binding between Python and the C++ runtime (ext/runtime.h).

It only converts values (Python <-> HostValue, see host_value.h for the JS side) and
releases the GIL around every call into V8. Errors are returned as data in an Outcome;
pyruntime.isolate turns them into the public exceptions.
"""

import atexit
from datetime import datetime, timezone

from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.string_view cimport string_view
from libcpp.utility cimport pair
from libcpp.vector cimport vector
from libcpp.utility cimport move
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    int PyGC_Enable()
    int PyGC_Disable()

cdef extern from "v8.h":
    const int MAX_JS_STRING_LENGTH "v8::String::kMaxLength"


cdef extern from "isolate_limits.h" namespace "pyruntime":
    cdef cppclass IsolateLimits:
        size_t memory_limit_bytes
        double timeout_ms
        double cpu_limit_ms


cdef extern from "host_value.h" namespace "pyruntime":
    cdef enum class Kind "pyruntime::HostValue::Kind":
        kNull, kUndefined, kBool, kInt, kFloat, kBigInt, kString, kBytes, kList, kDict, kDate, kHandle, kHeaderList

    cdef cppclass HostValue:
        Kind kind
        cbool boolean
        int64_t integer
        double number
        vector[uint64_t] words
        string text
        vector[HostValue] items
        vector[pair[string, HostValue]] entries


cdef extern from "process_guard.h" namespace "pyruntime":
    void EnableProcessGuard(size_t allowance_bytes, double grace_ms) nogil
    cbool ProcessGuardEnabled()
    const int kWorkerAbortExitCode
    const int kV8FatalExitCode
    const size_t kDefaultAllowanceBytes
    const double kDefaultGraceMs
    cbool StopForExit(double wait_ms) nogil


cdef extern from "held_lines.h" namespace "pyruntime":
    const size_t kHeldLinesCapacity
    cbool HoldLines(const char* data, size_t size) nogil
    string TakeHeldLines() nogil


# Bytes of log lines `hold_lines` keeps at most.
HELD_LINES_CAPACITY = kHeldLinesCapacity


def hold_lines(bytes lines):
    """Holds log lines bound for stdout until `take_held_lines`; if this process must end
    first, the process guard's last words write them (ext/held_lines.h). False when they do
    not fit beside what is held: then write what is held, and them, now."""
    return HoldLines(lines, len(lines))


def take_held_lines():
    """The lines `hold_lines` holds, in order, which are then no longer held."""
    return <bytes>TakeHeldLines()


cdef extern from "http1_response.h" namespace "pyruntime":
    cdef cppclass Http1Answer:
        int status
        string_view status_line
        string_view date_line
        vector[pair[string_view, string_view]] headers
        string_view request_id
        string_view body
        cbool head_request
        cbool keep_alive
        cbool http10
    cbool WriteHttp1Answer(const Http1Answer& answer, string* out, string* error)


def http1_answer(int status, bytes status_line, bytes date_line, list headers, str request_id, bytes body,
                 bint head_request, bint keep_alive, bint http10):
    """A whole HTTP/1.1 response, head and body, as h1 sends a JS answer it has in hand
    (ext/http1_response.h has the framing rules). `headers`: the app's (name, value) pairs
    of str, Latin-1 as JS's Headers hold them. ValueError for a header with a line break."""
    cdef Http1Answer answer
    cdef string out, error
    cdef list kept = []  # the Latin-1 bytes of any header past ASCII, alive while they are read
    answer.status = status
    answer.status_line = string_view(<const char*>status_line, len(status_line))
    answer.date_line = string_view(<const char*>date_line, len(date_line))
    answer.headers.reserve(len(headers))
    for name, value in headers:
        answer.headers.push_back(pair[string_view, string_view](latin1_view(name, kept), latin1_view(value, kept)))
    answer.request_id = latin1_view(request_id, kept)
    answer.body = string_view(<const char*>body, len(body))
    answer.head_request = head_request
    answer.keep_alive = keep_alive
    answer.http10 = http10
    if not WriteHttp1Answer(answer, &out, &error):
        raise ValueError(error.decode("latin-1"))
    return <bytes>out


cdef extern from "http1_head.h" namespace "pyruntime":
    cdef cppclass Http1Head:
        string_view method
        string_view path
        string_view query
        cbool http10
        vector[pair[string_view, string_view]] headers
        int host
        int request_id
    size_t ReadHttp1Head(string_view data, size_t max_headers, size_t max_bytes, Http1Head* head)


cdef extern from "ascii.h" namespace "pyruntime":
    char AsciiLower(char c)


def http1_head(bytes data, Py_ssize_t offset, size_t max_headers, size_t max_bytes):
    """A plain request head at `offset` in `data`, read in one call (ext/http1_head.h says
    which heads are plain): (its end offset, method, HTTP version, raw path, query, headers
    as ASGI gives them with lowercase names, the first Host, the first X-Request-ID), either
    of the last two None when absent. None for any other head, which llhttp reads."""
    cdef Http1Head head
    if offset < 0 or offset > len(data):
        raise ValueError(f"offset {offset} outside the data")
    cdef size_t length = ReadHttp1Head(string_view(<const char*>data + offset, len(data) - offset), max_headers,
                                       max_bytes, &head)
    if length == 0:
        return None
    cdef list headers = []
    cdef pair[string_view, string_view] header
    cdef bytes name
    cdef char* lower
    cdef size_t i
    for header in head.headers:
        name = PyBytes_FromStringAndSize(NULL, header.first.size())
        lower = PyBytes_AS_STRING(name)
        for i in range(header.first.size()):
            lower[i] = AsciiLower(header.first[i])
        headers.append((name, bytes_of(header.second)))
    return (offset + <Py_ssize_t>length, PyUnicode_DecodeASCII(head.method.data(), head.method.size(), NULL),
            "1.0" if head.http10 else "1.1", bytes_of(head.path), bytes_of(head.query), headers,
            None if head.host < 0 else headers[head.host][1],
            None if head.request_id < 0 else headers[head.request_id][1])


cdef inline bytes bytes_of(string_view text):
    return PyBytes_FromStringAndSize(text.data(), text.size())


cdef extern from "request_line.h" namespace "pyruntime":
    cdef cppclass RequestLine:
        string_view timestamp
        int64_t pid
        cbool has_app
        string_view app
        string_view request_id
        string_view method
        string_view path
        int64_t status
        int64_t duration_us
        int64_t cpu_us
    const int64_t kRequestLineMaxMicros
    cbool WriteRequestLine(const RequestLine& line, string* out)


def request_line(str timestamp, int64_t pid, str app, str request_id, str method, str path, status,
                 double duration_s, cpu_ms):
    """A request's log line, the bytes orjson gives for observer.py's dict (ext/request_line.h);
    `app` and `cpu_ms` may be None. Times are cut to whole microseconds as observer.py cuts
    them. None for what the core does not write (a string with a lone surrogate, a time past
    kRequestLineMaxMicros, a status that is not an int): the caller serialises the dict then."""
    cdef RequestLine line
    cdef string out
    if type(status) is not int or not -(1 << 62) < status < (1 << 62):
        return None
    try:
        line.timestamp = utf8_view(timestamp)
        line.has_app = app is not None
        if app is not None:
            line.app = utf8_view(app)
        line.request_id = utf8_view(request_id)
        line.method = utf8_view(method)
        line.path = utf8_view(path)
    except UnicodeEncodeError:
        return None
    cdef double duration_us = duration_s * 1000000.0
    cdef double cpu_us = -1.0 if cpu_ms is None else <double>cpu_ms * 1000.0
    # Converted to integers only when in range (NaN is not).
    if not (0.0 <= duration_us < kRequestLineMaxMicros) or \
            not (cpu_ms is None or 0.0 <= cpu_us < kRequestLineMaxMicros):
        return None
    line.pid = pid
    line.status = <int64_t>status
    line.duration_us = <int64_t>duration_us
    line.cpu_us = <int64_t>cpu_us
    if not WriteRequestLine(line, &out):
        return None
    return <bytes>out


cdef string_view utf8_view(str text) except *:
    """`text`'s UTF-8, which CPython keeps with the string: valid while `text` lives.
    UnicodeEncodeError for a lone surrogate."""
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(text, &size)
    return string_view(data, size)


cdef string_view latin1_view(str text, list kept) except *:
    """`text`'s Latin-1 bytes: an ASCII string's own, else encoded into `kept`."""
    cdef Py_ssize_t size
    cdef const char* data
    cdef bytes encoded
    if PyUnicode_IS_ASCII(text):
        data = PyUnicode_AsUTF8AndSize(text, &size)
        return string_view(data, size)
    encoded = text.encode("latin-1")
    kept.append(encoded)
    return string_view(<const char*>encoded, len(encoded))


# Exit codes of a process that the guard or a V8 fatal error ended (ext/process_guard.h).
WORKER_ABORT_EXIT_CODE = kWorkerAbortExitCode
V8_FATAL_EXIT_CODE = kV8FatalExitCode


def enable_process_guard(size_t allowance_bytes=kDefaultAllowanceBytes, double grace_ms=kDefaultGraceMs):
    """Ends this process (one JSON `worker_abort` line on stdout, exit code WORKER_ABORT_EXIT_CODE)
    when an isolate still runs JS `grace_ms` after its termination was requested, or when the
    resident memory stays above its start-up size plus the live isolates' memory limits plus
    `allowance_bytes` (ext/process_guard.h). For server worker processes, which a supervisor
    replaces: it is off unless called, so an embedding host is never ended by it."""
    if not 0 < grace_ms <= 1000:
        raise ValueError(f"grace_ms must be in (0, 1000], got {grace_ms}")
    if allowance_bytes > kDefaultAllowanceBytes:
        raise ValueError(f"allowance_bytes must be at most {kDefaultAllowanceBytes}, got {allowance_bytes}")
    EnableProcessGuard(allowance_bytes, grace_ms)


def process_guard_enabled():
    return ProcessGuardEnabled()


# How long the host's exit waits for JS running on its other threads to stop (a builtin can
# take a while to see the termination).
EXIT_WAIT_MS = 1000


def stop_for_exit(double wait_ms=EXIT_WAIT_MS):
    """At the host's exit: no call starts any more, running ones are terminated, and this waits
    up to `wait_ms` for them (ext/process_guard.h, StopForExit). Registered with atexit, which
    runs once Python joined its non-daemon threads: JS on a daemon thread must stop before the
    C library's exit handlers free what it uses (OpenSSL's locks). True when none runs."""
    cdef cbool stopped
    with nogil:
        stopped = StopForExit(wait_ms)
    return stopped


atexit.register(stop_for_exit)


cdef extern from "startup_snapshot.h" namespace "pyruntime":
    string SnapshotWarmupError() except +
    cbool UseSnapshotBlob(const string&) nogil
    string SnapshotBlobBytes() except + nogil


def snapshot_warmup_error():
    """Why the startup snapshot's warm-up failed (isolates then compile the request path on
    their first request), or None."""
    text = SnapshotWarmupError().decode("utf-8", "replace")
    return text or None


def use_snapshot_blob(bytes blob):
    """Starts this process's isolates from `blob` (what snapshot_blob() returned in an earlier
    process of this same build) instead of making a snapshot. False if V8 finds it invalid
    or isolates already exist; then nothing changes."""
    cdef string data = blob
    cdef cbool used
    with nogil:
        used = UseSnapshotBlob(data)
    return used


def snapshot_blob():
    """The startup snapshot of this process as bytes, made now if needed."""
    cdef string out
    with nogil:
        out = SnapshotBlobBytes()
    return <bytes>out


cdef extern from "runtime.h" namespace "pyruntime":
    cdef enum class Status "pyruntime::Status":
        kOk, kJsError, kTimeout, kCpuLimit, kMemoryLimit, kUnsettled, kPending, kClosed, kConversionError, kTerminated, \
            kDeadline

    cdef cppclass ConsoleLine:
        string level
        string text

    cdef cppclass HostOp:
        uint64_t id
        string name
        HostValue payload

    cdef cppclass COutcome "pyruntime::Outcome":
        Status status
        HostValue value
        string error_name
        string error_message
        string error_stack
        double wall_ms
        double cpu_ms
        double next_timer_ms
        vector[HostOp] ops
        vector[ConsoleLine] console
        int unhandled_rejections

    cdef cppclass ModuleLink:
        string referrer
        string specifier
        string resolved

    cdef cppclass HeapStats:
        size_t used_heap_size
        size_t total_heap_size
        size_t heap_size_limit
        size_t external_memory
        size_t array_buffer_bytes
        size_t malloced_memory
        size_t memory_limit

    cdef cppclass CRuntime "pyruntime::Runtime":
        CRuntime(const IsolateLimits&) except + nogil
        COutcome Eval(const string&, const string&, cbool) nogil
        COutcome Call(const string&, const vector[HostValue]&) nogil
        COutcome CallInternal(const string&, const vector[HostValue]&, cbool) nogil
        COutcome CompileModule(const string&, const string&, const string&) nogil
        string ModuleCodeCache(const string&) nogil
        COutcome EvaluateModule(const string&, const vector[ModuleLink]&) nogil
        COutcome BindWorkerModule(const string&) nogil
        COutcome RunLoop() nogil
        COutcome CallHandle(uint64_t, const vector[HostValue]&) nogil
        COutcome GetHandleProperty(uint64_t, const HostValue&) nogil
        COutcome HandleKeys(uint64_t) nogil
        COutcome AwaitHandle(uint64_t) nogil
        void ReleaseHandle(uint64_t) nogil
        COutcome Resume() nogil
        void CancelCall() nogil
        void Terminate() nogil
        void ClearTerminate() nogil
        void SetCallDeadline(double) nogil
        void CompleteOp(uint64_t, cbool, HostValue) nogil
        HeapStats Stats() nogil
        void ReduceMemory() nogil
        double BackgroundCpuMs()
        double UnbilledBackgroundMs()
        int BackgroundInFlight()
        double CallCpuMs()
        cbool alive()
        void Dispose() nogil


cdef extern from "framed_answer.h" namespace "pyruntime":
    cdef cppclass AnswerFrame:
        cbool wanted
        string request_id
        cbool head_request
        cbool keep_alive
        cbool http10
    cdef cppclass FramedAnswer:
        int status
        string data


cdef extern from "fetch_series.h" namespace "pyruntime":
    vector[COutcome] RunFetchSeries(CRuntime&, const string&, const vector[vector[HostValue]]&, double, size_t,
                                    const vector[AnswerFrame]&, string_view, vector[FramedAnswer]*, cbool*) nogil


_STATUS_NAMES = {
    Status.kOk: "ok",
    Status.kJsError: "js_error",
    Status.kTimeout: "timeout",
    Status.kCpuLimit: "cpu",
    Status.kMemoryLimit: "memory",
    Status.kUnsettled: "unsettled",
    Status.kPending: "pending",
    Status.kClosed: "closed",
    Status.kConversionError: "conversion",
    Status.kTerminated: "terminated",
    Status.kDeadline: "deadline",
}

# Python values nested deeper than this are refused, as on the JS side.
cdef int MAX_DEPTH = 512
cdef double MAX_SAFE_INTEGER = 9007199254740991.0


cdef inline str decoded(const string& text, const char* errors):
    """A std::string's UTF-8 as a str, read in place: Cython's `text.decode(...)` passes the
    std::string by value, a copy of every string (a megabyte for a 1 MB string) before decoding."""
    return PyUnicode_DecodeUTF8(text.data(), <Py_ssize_t>text.size(), errors)


cdef enum:
    RECENT_KEYS = 16  # dict keys remembered per conversion (_KeyTexts): records repeat a few keys


cdef class _KeyTexts:
    """The str made for each of the last RECENT_KEYS dict keys of one conversion, found by
    their UTF-8. Records share their keys: each key is decoded once, its hash computed once,
    and one str serves as the key of every record's dict. Records list their keys in the
    same order, so the search starts after the last key found. Only small objects' keys are
    searched: a larger one is a map of distinct keys, which the search would only slow."""
    cdef vector[string] texts
    cdef PyObject* strs[RECENT_KEYS]  # borrowed: `held` keeps each alive
    cdef list held
    cdef size_t next
    cdef size_t last

    def __cinit__(self):
        self.texts.resize(RECENT_KEYS)
        self.held = [None] * RECENT_KEYS

    cdef str key(self, const string& text):
        cdef size_t n, i
        for n in range(RECENT_KEYS):
            i = (self.last + 1 + n) % RECENT_KEYS
            if self.strs[i] != NULL and self.texts[i] == text:
                self.last = i
                return <str>self.strs[i]
        made = decoded(text, "surrogatepass")
        i = self.next % RECENT_KEYS
        self.next += 1
        self.texts[i] = text
        self.held[i] = made
        self.strs[i] = <PyObject*>made
        self.last = i
        return made


cdef object to_python(const HostValue& value, object handles, _KeyTexts keys):
    """`handles(id, type_name)` makes the Python object for a JS value held by id (kHandle)."""
    cdef size_t i
    cdef Kind kind = value.kind
    if kind == Kind.kNull or kind == Kind.kUndefined:
        return None
    if kind == Kind.kBool:
        return bool(value.boolean)
    if kind == Kind.kInt:
        return value.integer
    if kind == Kind.kFloat:
        return value.number
    if kind == Kind.kBigInt:
        magnitude = 0
        for i in range(value.words.size()):
            word = value.words[i]
            magnitude |= word << (64 * i)
        return -magnitude if value.boolean else magnitude
    if kind == Kind.kString:
        return decoded(value.text, "surrogatepass")
    if kind == Kind.kBytes:
        return <bytes>value.text
    if kind == Kind.kList:
        return [to_python(value.items[i], handles, keys) for i in range(value.items.size())]
    if kind == Kind.kDate:
        return _date(value.number)
    if kind == Kind.kHandle:
        type_name = decoded(value.text, "replace")
        if handles is None:
            raise TypeError(f"cannot convert a JS {type_name} to a Python value")
        return handles(value.integer, type_name)
    result = {}
    if value.entries.size() > RECENT_KEYS:  # a map of distinct keys, not a record: no search
        for i in range(value.entries.size()):
            result[decoded(value.entries[i].first, "surrogatepass")] = to_python(value.entries[i].second, handles,
                                                                                  keys)
        return result
    for i in range(value.entries.size()):
        result[keys.key(value.entries[i].first)] = to_python(value.entries[i].second, handles, keys)
    return result


cdef object value_to_python(const HostValue& value, object handles):
    """`to_python` with the cyclic GC paused while a container is built: the dicts and lists
    made from JS are acyclic, and 10,000 records set off collections that traversed every
    container built so far, a fifth of the conversion's time. The pause is the process's
    (CPython has no other): a gc.disable() another thread makes meanwhile is undone when the
    conversion ends. It lasts one conversion, which the isolate's memory limit bounds."""
    if value.kind != Kind.kList and value.kind != Kind.kDict:
        return to_python(value, handles, None)
    cdef bint was_enabled = PyGC_Disable()
    try:
        return to_python(value, handles, _KeyTexts())
    finally:
        if was_enabled:
            PyGC_Enable()


cdef object _date(double ms):
    """A JS Date as an aware UTC datetime (an invalid Date, NaN, becomes None)."""
    if ms != ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


cdef string utf8(object value) except *:
    """UTF-8 of `value`. An ASCII string is its own UTF-8, copied straight from CPython's
    buffer; any other is encoded, a lone surrogate passed as its bytes (V8 then reads
    each as U+FFFD) rather than refused. One with more characters than a JS string can
    hold is refused before it is encoded (a gigabyte took 16 s to encode, and copy, for V8
    to refuse)."""
    cdef Py_ssize_t size
    cdef const char* data
    if len(value) > MAX_JS_STRING_LENGTH:
        raise ValueError(f"a string of {len(value):,} characters is longer than a JS string can be "
                         f"({MAX_JS_STRING_LENGTH:,} UTF-16 code units)")
    if PyUnicode_IS_ASCII(value):
        data = PyUnicode_AsUTF8AndSize(value, &size)
        return string(data, size)
    return value.encode("utf-8", "surrogatepass")


cdef bint in_path(list path, object value):
    cdef object seen
    for seen in path:
        if seen is value:
            return True
    return False


cdef int fill(HostValue* out, object value, list path, int depth, object owner) except -1:
    """Converts `value` into `out` in place: a container's items are filled where they lie,
    never built apart and copied in (a copy would copy their whole subtree again)."""
    cdef type kind = type(value)
    if depth > MAX_DEPTH:
        raise TypeError(f"value is nested more than {MAX_DEPTH} levels deep")
    # The exact built-in types first (records are mostly these), then subclasses and the rest.
    if kind is str:
        out.kind = Kind.kString
        out.text = utf8(value)
    elif kind is float:
        out.kind = Kind.kFloat
        out.number = value
    elif kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        out.kind = Kind.kInt
        out.integer = value
    elif value is None:
        out.kind = Kind.kNull
    elif value is True or value is False:
        out.kind = Kind.kBool
        out.boolean = value
    elif kind is list or kind is tuple or kind is dict:
        fill_container(out, value, path, depth, owner)
    elif kind is bytes:
        out.kind = Kind.kBytes
        out.text = value
    elif kind is HeaderList:
        fill_header_list(out, (<HeaderList>value).pairs)
    elif isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            out.kind = Kind.kInt
            out.integer = value
        else:
            out.kind = Kind.kBigInt
            out.boolean = value < 0
            magnitude = -value if value < 0 else value
            while magnitude:
                out.words.push_back(magnitude & 0xFFFFFFFFFFFFFFFF)
                magnitude >>= 64
    elif isinstance(value, float):
        out.kind = Kind.kFloat
        out.number = value
    elif isinstance(value, datetime):
        # A naive datetime is taken as UTC: the isolate has no local time zone of its own.
        out.kind = Kind.kDate
        out.number = (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp() * 1000
    elif hasattr(value, "_js_handle"):
        handle_id, runtime = value._js_handle
        if runtime is not owner:
            raise TypeError("a JS value can only go back to the isolate it came from")
        out.kind = Kind.kHandle
        out.integer = handle_id
    elif isinstance(value, str):
        out.kind = Kind.kString
        out.text = utf8(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.kind = Kind.kBytes
        out.text = bytes(value)
    elif isinstance(value, (list, tuple, dict)):
        fill_container(out, value, path, depth, owner)
    else:
        raise TypeError(f"cannot convert a Python {type(value).__name__} to a JS value")
    return 0


cdef int fill_container(HostValue* out, object value, list path, int depth, object owner) except -1:
    # Sized up front; a container whose length changes meanwhile (user code in a
    # subclass's iterator, or in a `_js_handle` property) is refused, never overrun.
    cdef size_t i = 0
    cdef size_t size = len(value)
    if in_path(path, value):
        raise TypeError("value contains a cycle")
    path.append(value)
    if isinstance(value, dict):
        out.kind = Kind.kDict
        out.entries.resize(size)
        for key, entry in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict keys must be str to become JS object keys, not {type(key).__name__}")
            if i == size:
                resized(value)
            out.entries[i].first = utf8(key)
            fill(&out.entries[i].second, entry, path, depth + 1, owner)
            i += 1
    else:
        out.kind = Kind.kList
        out.items.resize(size)
        for entry in value:
            if i == size:
                resized(value)
            fill(&out.items[i], entry, path, depth + 1, owner)
            i += 1
    if i != size:
        resized(value)
    path.pop()
    return 0


cdef class HeaderList:
    """HTTP headers on their way to JS: `pairs` as ASGI gives them, `[(name, value), ...]` of
    bytes (str items are taken as Latin-1). JS gets strings whose code units are the header
    bytes, made without decoding them in Python or in the core (HostValue kHeaderList), as
    `[plain, [name0, value0, ...]]`: `plain` when every header is in the shape the Headers
    class keeps (it takes them as they are), else append() checks them. A request's headers
    are most of what it sends to JS."""
    cdef readonly object pairs

    def __cinit__(self, pairs):
        self.pairs = pairs


cdef int fill_header_list(HostValue* out, object pairs) except -1:
    cdef size_t count = len(pairs)
    cdef bytes name_bytes, value_bytes
    out.kind = Kind.kHeaderList
    out.words.reserve(2 * count)
    for pair in pairs:
        if type(pair) is not tuple or len(<tuple>pair) != 2:
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise TypeError(f"a header must be a (name, value) pair, got {pair!r}") from None
        else:
            name, value = <tuple>pair
        name_bytes = name if type(name) is bytes else latin1(name, "name")
        value_bytes = value if type(value) is bytes else latin1(value, "value")
        out.text.append(<const char*>name_bytes, len(name_bytes))
        out.words.push_back(out.text.size())
        out.text.append(<const char*>value_bytes, len(value_bytes))
        out.words.push_back(out.text.size())
    if out.words.size() != 2 * count:
        resized(pairs)
    return 0


cdef bytes latin1(object text, str what):
    if isinstance(text, str):
        try:
            return (<str>text).encode("latin-1")
        except UnicodeEncodeError:
            raise TypeError(f"a header {what} must be Latin-1 text, got {text!r}") from None
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"a header {what} must be bytes or str, not {type(text).__name__}")


cdef int resized(object value) except -1:
    raise RuntimeError(f"the {type(value).__name__} changed size while it was converted to a JS value")


cdef class Outcome:
    """What one slice of a call produced (see runtime.h)."""
    cdef readonly str status
    cdef readonly object value
    cdef readonly str error_name
    cdef readonly str error_message
    cdef readonly str error_stack
    cdef readonly double wall_ms
    cdef readonly double cpu_ms
    cdef readonly object next_timer_ms
    cdef readonly list ops
    cdef readonly list console
    cdef readonly int unhandled_rejections
    # (status, the HTTP/1.1 response after its status line) when fetch_series framed this
    # request's answer (ext/framed_answer.h); `value` is then None. Else None.
    cdef readonly object framed

    def __repr__(self):
        return f"Outcome({self.status!r}, value={self.value!r}, error={self.error_name!r}: {self.error_message!r})"


cdef Outcome wrap(COutcome& c, object handles):
    cdef Outcome out = Outcome.__new__(Outcome)
    cdef size_t i
    out.status = _STATUS_NAMES[c.status]
    out.value = value_to_python(c.value, handles) if c.status == Status.kOk else None
    out.error_name = decoded(c.error_name, "replace")
    out.error_message = decoded(c.error_message, "replace")
    out.error_stack = decoded(c.error_stack, "replace")
    out.wall_ms = c.wall_ms
    out.cpu_ms = c.cpu_ms
    out.next_timer_ms = c.next_timer_ms if c.next_timer_ms >= 0 else None
    out.ops = [(c.ops[i].id, decoded(c.ops[i].name, "replace"), value_to_python(c.ops[i].payload, None))
               for i in range(c.ops.size())]
    out.console = [(decoded(c.console[i].level, "replace"), decoded(c.console[i].text, "replace"))
                   for i in range(c.console.size())]
    out.unhandled_rejections = c.unhandled_rejections
    return out


cdef int convert_args(vector[HostValue]* out, tuple args, object owner) except -1:
    """Fills `out` in place: a vector returned by value is copied whole by Cython's generated code."""
    cdef size_t i = 0
    cdef list path = []  # each argument's walk leaves it empty again
    out.resize(len(args))
    for arg in args:
        fill(&out[0][i], arg, path, 0, owner)
        i += 1
    return 0


cdef class Runtime:
    """One V8 isolate (ext/runtime.h). Not thread-safe by itself: callers serialise calls.

    `handles(id, type_name)`, when set, makes the Python object for each JS value a result
    holds by id (functions, promises, class instances); unset, such results are refused.
    """
    cdef CRuntime* c
    cdef public object handles
    # While set, calls keep the GIL instead of releasing it around V8: for a short slice on the
    # event loop's thread (pyruntime/engine/inline_gate.py) a release lets another thread take
    # the GIL, and getting it back costs a thread switch, or up to the 5 ms switch interval.
    cdef public bint keep_gil

    def __cinit__(self, size_t memory_limit_bytes, double timeout_ms, double cpu_limit_ms):
        cdef IsolateLimits limits
        limits.memory_limit_bytes = memory_limit_bytes
        limits.timeout_ms = timeout_ms
        limits.cpu_limit_ms = cpu_limit_ms
        with nogil:
            self.c = new CRuntime(limits)

    def __dealloc__(self):
        if self.c != NULL:
            with nogil:
                del self.c
            self.c = NULL

    @property
    def alive(self):
        return self.c != NULL and self.c.alive()

    @property
    def background_cpu_ms(self):
        """CPU V8's worker threads spent for this isolate (ext/background_cpu.h)."""
        return self.c.BackgroundCpuMs() if self.c != NULL else 0.0

    @property
    def unbilled_background_ms(self):
        """Of it, what no call counted: spent after the last call's last slice."""
        return self.c.UnbilledBackgroundMs() if self.c != NULL else 0.0

    @property
    def last_call_cpu_ms(self):
        """The CPU the last call (or the one in progress) was charged, background included."""
        return self.c.CallCpuMs() if self.c != NULL else 0.0

    @property
    def background_in_flight(self):
        """Worker-thread tasks and jobs for this isolate that V8 has not finished."""
        return self.c.BackgroundInFlight() if self.c != NULL else 0

    def close(self):
        if self.c != NULL:
            with nogil:
                self.c.Dispose()

    def eval(self, str source, str filename, bint use_result=True):
        cdef string src = source.encode("utf-8", "surrogatepass")
        cdef string name = filename.encode("utf-8", "surrogatepass")
        cdef COutcome out
        if self.keep_gil:
            out = self.c.Eval(src, name, use_result)
        else:
            with nogil:
                out = self.c.Eval(src, name, use_result)
        return wrap(out, self.handles)

    def call(self, str function, tuple args):
        cdef string name = function.encode("utf-8")
        cdef vector[HostValue] argv
        convert_args(&argv, args, self)
        cdef COutcome out
        if self.keep_gil:
            out = self.c.Call(name, argv)
        else:
            with nogil:
                out = self.c.Call(name, argv)
        return wrap(out, self.handles)

    def call_internal(self, str function, tuple args, bint fresh=False):
        """`fresh`: first drop what earlier calls left (timers, pending operations), as
        cancel_call() does, without a crossing of its own."""
        cdef string name = function.encode("utf-8")
        cdef vector[HostValue] argv
        convert_args(&argv, args, self)
        cdef COutcome out
        if self.keep_gil:
            out = self.c.CallInternal(name, argv, fresh)
        else:
            with nogil:
                out = self.c.CallInternal(name, argv, fresh)
        return wrap(out, self.handles)

    def fetch_series(self, str function, list calls, double max_slice_ms, size_t release_bytes, list frames=None,
                     bytes date_line=b""):
        """`call_internal(function, args, True)` for each args tuple of `calls` in turn, in one
        crossing, while each call leaves the isolate free for the next (ext/fetch_series.h:
        ended in its first slice within `max_slice_ms`, a whole result of at most
        `release_bytes`, or an error its handler threw). Returns the outcomes of the calls
        made, in order, whether the series went on past the last of them (it ran every call
        it could convert), and the error of the first args that cannot go to JS (None if all
        can): the series ends before that call.
        `frames`, one per call: None, or (request_id, head_request, keep_alive, http10) to
        have that call's answer framed for HTTP/1.1 (`Outcome.framed`) when it is a whole one,
        with `date_line` (the server's "date: ...\r\n") unless the app gave a Date."""
        cdef string name = function.encode("utf-8")
        cdef vector[vector[HostValue]] argv
        cdef vector[AnswerFrame] cframes
        cdef vector[FramedAnswer] framed
        cdef vector[COutcome] outs
        cdef cbool went_on = False
        cdef size_t i
        cdef string_view date = string_view(<const char*>date_line, len(date_line))
        cdef Outcome out
        refused = None
        argv.resize(len(calls))
        for i in range(argv.size()):
            try:
                convert_args(&argv[i], calls[i], self)
            except Exception as exc:
                refused = exc
                argv.resize(i)
                break
        if frames is not None:
            cframes.resize(min(len(frames), argv.size()))
            for i in range(cframes.size()):
                if frames[i] is not None:
                    request_id, head_request, keep_alive, http10 = frames[i]
                    try:
                        cframes[i].request_id = request_id.encode("latin-1")
                    except UnicodeEncodeError:  # not a header value: the host frames this one
                        continue
                    cframes[i].wanted = True
                    cframes[i].head_request = head_request
                    cframes[i].keep_alive = keep_alive
                    cframes[i].http10 = http10
        if self.keep_gil:
            outs = RunFetchSeries(self.c[0], name, argv, max_slice_ms, release_bytes, cframes, date, &framed, &went_on)
        else:
            with nogil:
                outs = RunFetchSeries(self.c[0], name, argv, max_slice_ms, release_bytes, cframes, date, &framed,
                                      &went_on)
        outcomes = []
        for i in range(outs.size()):
            if framed[i].data.empty():
                outcomes.append(wrap(outs[i], self.handles))
            else:
                outs[i].value.kind = Kind.kNull  # in the framed bytes: not converted
                out = wrap(outs[i], self.handles)
                out.framed = (framed[i].status, <bytes>framed[i].data)
                outcomes.append(out)
        return outcomes, went_on, refused

    def compile_module(self, str name, str source, bytes code_cache=b""):
        """`code_cache`: what module_code_cache returned for this same source, or empty."""
        cdef string cname = name.encode("utf-8", "surrogatepass")
        cdef string src = source.encode("utf-8", "surrogatepass")
        cdef string cache = code_cache
        cdef COutcome out
        with nogil:
            out = self.c.CompileModule(cname, src, cache)
        return wrap(out, self.handles)

    def module_code_cache(self, str name):
        """V8's code cache of a compiled module (b"" if there is none): its top level and
        every function compiled so far. Call it between calls, never while JS runs."""
        cdef string cname = name.encode("utf-8", "surrogatepass")
        cdef string out
        with nogil:
            out = self.c.ModuleCodeCache(cname)
        return <bytes>out

    def evaluate_module(self, str name, list links):
        """`links`: (referrer, specifier, resolved module name) for every import."""
        cdef string cname = name.encode("utf-8", "surrogatepass")
        cdef vector[ModuleLink] clinks
        cdef ModuleLink link
        for referrer, specifier, resolved in links:
            link.referrer = referrer.encode("utf-8", "surrogatepass")
            link.specifier = specifier.encode("utf-8", "surrogatepass")
            link.resolved = resolved.encode("utf-8", "surrogatepass")
            clinks.push_back(link)
        cdef COutcome out
        with nogil:
            out = self.c.EvaluateModule(cname, clinks)
        return wrap(out, self.handles)

    def bind_worker_module(self, str name):
        cdef string cname = name.encode("utf-8", "surrogatepass")
        cdef COutcome out
        with nogil:
            out = self.c.BindWorkerModule(cname)
        return wrap(out, self.handles)

    def run_loop(self):
        cdef COutcome out
        with nogil:
            out = self.c.RunLoop()
        return wrap(out, self.handles)

    def resume(self):
        cdef COutcome out
        if self.keep_gil:
            out = self.c.Resume()
        else:
            with nogil:
                out = self.c.Resume()
        return wrap(out, self.handles)

    def terminate(self):
        """Stops the running call from any thread (it returns "terminated")."""
        if self.c != NULL:
            with nogil:
                self.c.Terminate()

    def clear_terminate(self):
        """The host's call is over: a terminate() that arrives now must not stop the next one,
        and its total deadline is dropped."""
        if self.c != NULL:
            self.c.ClearTerminate()

    def set_call_deadline(self, double seconds):
        """The call in progress (or about to begin) must end `seconds` from now: a slice still
        running then stops with status "deadline". Set it between slices; clear_terminate()
        drops it."""
        if seconds != seconds:
            raise ValueError("the call's deadline must be a number of seconds, not NaN")
        if self.c != NULL:
            self.c.SetCallDeadline(seconds * 1000)

    def cancel_call(self):
        if self.keep_gil:
            self.c.CancelCall()
        else:
            with nogil:
                self.c.CancelCall()

    def complete_op(self, uint64_t op_id, bint ok, object value):
        cdef HostValue cvalue
        if ok:
            fill(&cvalue, value, [], 0, self)
        else:
            cvalue.kind = Kind.kString
            cvalue.text = str(value).encode("utf-8", "surrogatepass")
        with nogil:
            self.c.CompleteOp(op_id, ok, cvalue)

    def call_handle(self, uint64_t handle, tuple args):
        cdef vector[HostValue] argv
        convert_args(&argv, args, self)
        cdef COutcome out
        with nogil:
            out = self.c.CallHandle(handle, argv)
        return wrap(out, self.handles)

    def get_handle_property(self, uint64_t handle, object key):
        cdef HostValue ckey
        fill(&ckey, key, [], 0, self)
        cdef COutcome out
        with nogil:
            out = self.c.GetHandleProperty(handle, ckey)
        return wrap(out, self.handles)

    def handle_keys(self, uint64_t handle):
        cdef COutcome out
        with nogil:
            out = self.c.HandleKeys(handle)
        return wrap(out, self.handles)

    def await_handle(self, uint64_t handle):
        cdef COutcome out
        with nogil:
            out = self.c.AwaitHandle(handle)
        return wrap(out, self.handles)

    def release_handle(self, uint64_t handle):
        """Safe from any thread and during a call: the release is queued."""
        if self.c != NULL:
            self.c.ReleaseHandle(handle)

    def reduce_memory(self):
        """A full collection that gives memory back; for an idle isolate, not during a call."""
        if self.c != NULL:
            with nogil:
                self.c.ReduceMemory()

    def heap_statistics(self):
        cdef HeapStats s
        if self.keep_gil:
            s = self.c.Stats()
        else:
            with nogil:
                s = self.c.Stats()
        return {
            "used_heap_size": s.used_heap_size,
            "total_heap_size": s.total_heap_size,
            "heap_size_limit": s.heap_size_limit,
            "external_memory": s.external_memory,
            "array_buffer_bytes": s.array_buffer_bytes,
            "malloced_memory": s.malloced_memory,
            "memory_limit": s.memory_limit,
        }
