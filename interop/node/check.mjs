// Interop check driven by crates/supagate-cookie/tests/interop_node.rs.
//
// Input (JSON file, argv[2]):
//   { url, reads: [{ id, encoding, encode?, cookie_header }],
//     writes: [{ id, encoding, encode?, session_json }],
//     clears: [{ id, cookie_header, domain }],
//     scoped: [{ id, cookie_header, storage_key, scopes: [{ domain?, path? }] }] }
// Output (stdout, JSON):
//   { reads: [{ id, session, error }], writes: [{ id, cookies: [{ name, wire }] }],
//     clears: [{ id, cookies: [{ name, domain, max_age }] }],
//     scoped: [{ id, set_cookies: [string] }] }
//
// reads:  what the real @supabase/ssr server client returns from getSession() for cookies
//         supagate wrote (parsed from the Cookie header by ssr's own parseCookieHeader).
// writes: the cookies the real @supabase/ssr writes for a session (auth-js _saveSession, as the
//         corpus driver does, no network), with the wire value its serializer would send.
// clears: the deletions the real @supabase/ssr writes on a local sign-out for a request's
//         cookies, with `cookieOptions.domain` when given (the auth server's answer is stubbed).
// encode: `cookies.encode` ("tokens-only" or the default "user-and-tokens"). A tokens-only
//         client's session.user is a placeholder that throws when read: reads return the
//         session without it.
// scoped: what clearAuthCookiesAtScopes writes for a request's cookies at the given scopes,
//         each as ssr's own serializeCookieHeader puts it on the wire.
import fs from "node:fs";

// supabase-js constructs a realtime client, which needs a WebSocket global (native from
// Node 22). No socket is ever opened here; give Node 20 an inert one.
if (typeof globalThis.WebSocket === "undefined") {
  globalThis.WebSocket = class {
    constructor() {
      throw new Error("realtime is not used in this test");
    }
  };
}
const { createServerClient, parseCookieHeader, serializeCookieHeader, clearAuthCookiesAtScopes } =
  await import("@supabase/ssr");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = { reads: [], writes: [], clears: [], scoped: [] };
const silence = [console.warn, console.log];
console.warn = () => {};
console.log = () => {};

for (const r of input.reads) {
  const client = createServerClient(input.url, "anon-key", {
    cookieEncoding: r.encoding,
    cookies: {
      encode: r.encode,
      getAll: () => parseCookieHeader(r.cookie_header),
      setAll: () => {},
    },
  });
  const { data, error } = await client.auth.getSession();
  let session = data.session;
  if (session && r.encode === "tokens-only") {
    const { user: _placeholder, ...tokens } = session;
    session = tokens;
  }
  out.reads.push({ id: r.id, session, error: error ? String(error.message) : null });
}

for (const w of input.writes) {
  const captured = [];
  const client = createServerClient(input.url, "anon-key", {
    cookieEncoding: w.encoding,
    cookies: {
      encode: w.encode,
      getAll: () => [],
      setAll: (cookies) => captured.push(...cookies),
    },
  });
  const session = JSON.parse(w.session_json);
  await client.auth._saveSession(session);
  await client.auth._notifyAllSubscribers("SIGNED_IN", session);
  out.writes.push({
    id: w.id,
    cookies: captured
      .filter((c) => c.value !== "")
      .map((c) => ({ name: c.name, wire: encodeURIComponent(c.value) })),
  });
}

for (const c of input.clears || []) {
  const captured = [];
  const client = createServerClient(input.url, "anon-key", {
    cookieOptions: c.domain ? { domain: c.domain } : {},
    cookies: {
      getAll: () => parseCookieHeader(c.cookie_header),
      setAll: (cookies) => captured.push(...cookies),
    },
    global: { fetch: async () => new Response(null, { status: 204 }) },
  });
  await client.auth.signOut({ scope: "local" });
  out.clears.push({
    id: c.id,
    cookies: captured.map((k) => ({
      name: k.name,
      domain: k.options?.domain ?? null,
      max_age: k.options?.maxAge ?? null,
    })),
  });
}

for (const c of input.scoped || []) {
  const captured = [];
  await clearAuthCookiesAtScopes({
    getAll: () => parseCookieHeader(c.cookie_header),
    setAll: (cookies) => captured.push(...cookies),
    storageKey: c.storage_key,
    scopes: c.scopes,
  });
  out.scoped.push({
    id: c.id,
    set_cookies: captured.map((k) => serializeCookieHeader(k.name, k.value, k.options)),
  });
}

[console.warn, console.log] = silence;
process.stdout.write(JSON.stringify(out));
