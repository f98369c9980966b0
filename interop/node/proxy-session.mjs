// Real @supabase/ssr against the frontend proxy's auth server, driven by
// examples/frontend-proxy/tests/end_to_end.rs.
//
//   node proxy-session.mjs sign-in <supabase url> <anon key> <email> <password>
//     signs in with the real createServerClient (its fetch goes to the mock auth server) and
//     prints the cookies @supabase/ssr wrote: [{ name, wire }]
//   node proxy-session.mjs read <supabase url> <cookie header>
//     prints what getSession() returns for cookies the proxy wrote: { access_token, error }
if (typeof globalThis.WebSocket === "undefined") {
  globalThis.WebSocket = class {
    constructor() {
      throw new Error("realtime is not used in this test");
    }
  };
}
const { createServerClient, parseCookieHeader } = await import("@supabase/ssr");
const silence = [console.warn, console.log];
console.warn = () => {};
console.log = () => {};
const [mode, url, ...rest] = process.argv.slice(2);
let out;
if (mode === "sign-in") {
  const [key, email, password] = rest;
  const jar = new Map();
  const client = createServerClient(url, key, {
    cookies: {
      getAll: () => [...jar].map(([name, value]) => ({ name, value })),
      setAll: (cookies) => {
        for (const c of cookies) {
          if (c.value === "") jar.delete(c.name);
          else jar.set(c.name, c.value);
        }
      },
    },
  });
  const { error } = await client.auth.signInWithPassword({ email, password });
  if (error) {
    [console.warn, console.log] = silence;
    console.error(String(error.message));
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 20));
  out = [...jar].map(([name, value]) => ({ name, wire: encodeURIComponent(value) }));
} else {
  const [cookieHeader] = rest;
  const client = createServerClient(url, "anon-key", {
    cookies: { getAll: () => parseCookieHeader(cookieHeader), setAll: () => {} },
  });
  const { data, error } = await client.auth.getSession();
  out = { access_token: data.session?.access_token ?? null, error: error ? String(error.message) : null };
}
[console.warn, console.log] = silence;
process.stdout.write(JSON.stringify(out));
