// A service-worker style app with a JSON API, signed with HMAC (the JWT building block).
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

const encoder = new TextEncoder();

async function sign(secret, text) {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" },
                                            false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(mac)));
}

async function handle(request) {
  const url = new URL(request.url);
  const payload = { path: url.pathname, time: new Date().toISOString(), id: crypto.randomUUID() };
  const text = JSON.stringify(payload);
  return Response.json({ payload, signature: await sign(SIGNING_KEY, text) });
}

const SIGNING_KEY = "example-only";
