// Real @supabase/ssr against the frontend proxy's auth server, driven by
// examples/frontend-proxy/tests/end_to_end.rs.
//
//   node proxy-session.mjs sign-in <supabase url> <anon key> <email> <password>
//     signs in with the real createServerClient (its fetch goes to the mock auth server) and
//     prints the cookies @supabase/ssr wrote: [{ name, wire }]
//   node proxy-session.mjs supabase-js <supabase url> <anon key> <email> <password>
//     signs in with @supabase/supabase-js's own client (createClient, no cookies), then has
//     @supabase/ssr's createServerClient store that session (setSession), and prints the
//     cookies it wrote: [{ name, wire }]
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
const { createClient } = await import("@supabase/supabase-js");
const silence = [console.warn, console.log];
console.warn = () => {};
console.log = () => {};
const [mode, url, ...rest] = process.argv.slice(2);
let out;
function fail(message) {
  [console.warn, console.log] = silence;
  console.error(message);
  process.exit(1);
}
if (mode === "sign-in" || mode === "supabase-js") {
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
  if (mode === "sign-in") {
    const { error } = await client.auth.signInWithPassword({ email, password });
    if (error) fail(String(error.message));
  } else {
    const plain = createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
    const { data, error } = await plain.auth.signInWithPassword({ email, password });
    if (error) fail(String(error.message));
    if (data.user?.email !== email) fail("supabase-js returned another user");
    const stored = await client.auth.setSession({
      access_token: data.session.access_token,
      refresh_token: data.session.refresh_token,
    });
    if (stored.error) fail(String(stored.error.message));
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
