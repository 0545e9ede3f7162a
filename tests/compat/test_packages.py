"""Real npm packages, unchanged, imported by name and served over HTTP."""

import httpx

HONO = """
import { Hono } from "hono";
import { cors } from "hono/cors";

const app = new Hono();
app.use("/api/*", cors());
app.get("/", (c) => c.text("Hello Hono"));
app.get("/api/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") }));
app.post("/api/echo", async (c) => c.json(await c.req.json(), 201));
export default app;
"""

ITTY = """
import { AutoRouter, error } from "itty-router";

const router = AutoRouter();
router.get("/hello/:name", ({ params }) => ({ hello: params.name }));
router.get("/teapot", () => error(418, "I'm a teapot"));
export default { ...router };
"""

ZOD = """
import { z } from "zod";

const User = z.object({ name: z.string().min(2), age: z.number().int().positive() });
export default {
  async fetch(request) {
    const parsed = User.safeParse(await request.json());
    if (!parsed.success) {
      return Response.json({ issues: parsed.error.issues.map((i) => i.path.join(".")) }, { status: 400 });
    }
    return Response.json(parsed.data);
  },
};
"""

JOSE = """
import { SignJWT, jwtVerify, generateKeyPair, exportJWK } from "jose";

const secret = new TextEncoder().encode("a-secret-of-at-least-32-bytes-long!!");
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/hs256") {
      const token = await new SignJWT({ role: "admin" }).setProtectedHeader({ alg: "HS256" })
        .setSubject("user-1").setIssuedAt().setExpirationTime("2h").sign(secret);
      const { payload, protectedHeader } = await jwtVerify(token, secret);
      return Response.json({ parts: token.split(".").length, alg: protectedHeader.alg, sub: payload.sub,
                             role: payload.role });
    }
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const token = await new SignJWT({ n: 1 }).setProtectedHeader({ alg: "ES256" }).sign(privateKey);
    const { payload } = await jwtVerify(token, publicKey);
    const tampered = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
    let rejected = false;
    try { await jwtVerify(tampered, publicKey); } catch (e) { rejected = e.code; }
    return Response.json({ n: payload.n, rejected, kty: (await exportJWK(publicKey)).kty });
  },
};
"""

PARSERS = """
import { marked } from "marked";
import YAML from "yaml";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/yaml") return Response.json(YAML.parse(await request.text()));
    return new Response(marked.parse(await request.text()), { headers: { "content-type": "text/html" } });
  },
};
"""

# @hono/zod-validator imports the `hono` and `zod` packages by name.
ZOD_VALIDATOR = """
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";

const app = new Hono();
app.post("/posts", zValidator("json", z.object({ title: z.string() })), (c) => {
  const { title } = c.req.valid("json");
  return c.json({ created: title }, 201);
});
export default app;
"""


def client(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def test_hono(serve_app):
    with client(serve_app("hono", HONO)) as http:
        assert http.get("/").text == "Hello Hono"
        users = http.get("/api/users/42?q=x", headers={"origin": "https://a.example"})
        assert users.json() == {"id": "42", "q": "x"}
        assert users.headers["access-control-allow-origin"] == "*"
        echoed = http.post("/api/echo", json={"a": [1, 2]})
        assert (echoed.status_code, echoed.json()) == (201, {"a": [1, 2]})
        assert http.get("/missing").status_code == 404


def test_itty_router(serve_app):
    with client(serve_app("itty", ITTY)) as http:
        assert http.get("/hello/ada").json() == {"hello": "ada"}
        teapot = http.get("/teapot")
        assert (teapot.status_code, teapot.json()["error"]) == (418, "I'm a teapot")
        assert http.get("/nowhere").status_code == 404


def test_zod(serve_app):
    with client(serve_app("zod", ZOD)) as http:
        assert http.post("/", json={"name": "Ada", "age": 36}).json() == {"name": "Ada", "age": 36}
        bad = http.post("/", json={"name": "A", "age": -1})
        assert (bad.status_code, sorted(bad.json()["issues"])) == (400, ["age", "name"])


def test_jose_signs_and_verifies_jwts_with_webcrypto(serve_app):
    with client(serve_app("jose", JOSE)) as http:
        assert http.get("/hs256").json() == {"parts": 3, "alg": "HS256", "sub": "user-1", "role": "admin"}
        assert http.get("/es256").json() == {"n": 1, "rejected": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                                             "kty": "EC"}


def test_parsers_marked_and_yaml(serve_app):
    with client(serve_app("parsers", PARSERS)) as http:
        html = http.post("/md", content="# Title\n\nSome *emphasis* and `code`.\n").text
        assert html == "<h1>Title</h1>\n<p>Some <em>emphasis</em> and <code>code</code>.</p>\n"
        assert http.post("/yaml", content="a: 1\nlist:\n  - x\n  - y: true\n").json() == \
            {"a": 1, "list": ["x", {"y": True}]}


def test_a_package_importing_other_packages_by_name(serve_app):
    with client(serve_app("validator", ZOD_VALIDATOR)) as http:
        created = http.post("/posts", json={"title": "hello"})
        assert (created.status_code, created.json()) == (201, {"created": "hello"})
        assert http.post("/posts", json={"title": 5}).status_code == 400
