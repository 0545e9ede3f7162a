// A small module worker: `make serve`, then open http://127.0.0.1:8787/?name=you
import { greeting, stats } from "./lib/greeting.js";

let requests = 0;  // module state lives as long as the isolate

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    requests += 1;
    if (url.pathname === "/stats") {
      return Response.json(stats(requests));
    }
    if (request.method === "POST") {
      const text = await request.text();
      return new Response(text.toUpperCase(), { headers: { "content-type": "text/plain" } });
    }
    ctx.waitUntil(Promise.resolve().then(() => console.log("served", url.pathname)));
    const name = url.searchParams.get("name") ?? "world";
    return new Response(greeting(name), { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
