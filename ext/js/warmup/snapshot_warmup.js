// Runs once, in a throwaway context, while the startup snapshot is built (startup_snapshot.cc).
// Functions are compiled lazily, on first call; whatever this script calls is compiled here,
// and the snapshot keeps that code, so a new isolate's first request does not compile the
// runtime's request path again. The snapshotted context is a fresh copy of the bootstrap:
// nothing done here is visible to apps.
//
// Cover what a typical request runs: dispatch, Request and Response bodies, URL, Headers,
// streams, encoding, crypto, console, timers and fetch. Host operations never settle and
// timers never fire here, so nothing may await them.
(async function warmUp(internal) {
  "use strict";
  const { dispatchFetch, readResponseChunk, setWorkerModule } = internal;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  async function handle(request, env, ctx) {
    const url = new URL(request.url);
    const params = url.searchParams;
    const headers = new Headers({ "content-type": "text/plain;charset=UTF-8" });
    headers.set("x-path", url.pathname);
    headers.append("vary", request.headers.get("accept") ?? "*");
    for (const [name, value] of request.headers) headers.append(`x-echo-${name}`, value);
    const controller = new AbortController();
    clearTimeout(setTimeout(() => controller.abort(), 1000));
    ctx.waitUntil(Promise.resolve());
    fetch(new Request("https://warmup.invalid/", { method: "POST", body: "{}", signal: controller.signal }));
    console.log("warm-up", { path: url.pathname, query: Object.fromEntries(params) }, [1, 2, 3]);
    switch (url.pathname) {
      case "/json": {
        const body = await request.json();
        const digest = await crypto.subtle.digest("SHA-256", encoder.encode(url.pathname));
        const sizes = Object.assign({}, ...Object.entries(body).map(([key, value]) => ({ [key]: Object.keys(value) })));
        return Response.json({ body, sizes: Object.values(sizes), digest: [...new Uint8Array(digest)], id: crypto.randomUUID() });
      }
      case "/text": {
        const copy = request.clone();
        return new Response(decoder.decode(await request.arrayBuffer()) + (await copy.text()), {
          status: 201,
          headers,
        });
      }
      case "/stream": {
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue("chunk");
            controller.close();
          },
        });
        return new Response(stream.pipeThrough(new TextEncoderStream()), { headers });
      }
      case "/redirect":
        return Response.redirect(url.origin + "/", 302);
      case "/error":
        throw new TypeError(`no route for ${url.pathname}`);
      default:
        return new Response(`Hello from ${url.pathname}${url.search}`, { headers });
    }
  }

  setWorkerModule({ default: { fetch: handle } });
  // As the host hands headers over (HostValue kHeaderList): in the shape Headers keeps, as the
  // servers' parsers give them, or not (then append() checks them).
  const requestHeaders = [true, ["accept", "*/*", "user-agent", "warm-up", "content-type", "application/json"]];
  const rawHeaders = [false, ["Accept", " */* ", "User-Agent", "warm-up"]];
  const body = encoder.encode('{"warm": [1, 2, 3]}');
  for (let round = 0; round < 3; round++) {
    await dispatchFetch("GET", "http://localhost/?q=1&r=two", requestHeaders, null);
    await dispatchFetch("GET", "http://localhost/raw", rawHeaders, null);
    await dispatchFetch("POST", "http://localhost/json", requestHeaders, body);
    await dispatchFetch("PUT", "http://localhost/text", requestHeaders, body);
    await dispatchFetch("GET", "http://localhost/redirect", requestHeaders, null);
    const streamed = await dispatchFetch("GET", "http://localhost/stream", requestHeaders, null);
    const streamId = streamed[4];  // the host's FetchResult, as an array
    while (typeof (await readResponseChunk(streamId)) !== "number");  // a number: the end
    await dispatchFetch("GET", "http://localhost/error", requestHeaders, null).then(
      () => {
        throw new Error("the warm-up's failing request did not fail");
      },
      (error) => String(error.stack),
    );
  }
});
