// The real @supabase/supabase-js calling an example backend's /public/whoami with the headers
// it sends itself, driven by examples/backend-axum/tests/supabase_js.rs.
//
//   node whoami.mjs <supabase url> <publishable key> <backend url> <email> <password>
//     creates a client with the publishable key, calls <backend url>/public/whoami through the
//     client's own fetch (the one PostgREST and Storage use: apikey, and the key as the bearer
//     while signed out) and through its functions fetch (the one functions.invoke uses: apikey,
//     no key as the bearer), signed out, then signs in with the password against the mock auth
//     server and calls both again. Prints
//     { signed_out: { fetch, functions }, signed_in: { fetch, functions }, headers } with each
//     answer as { status, body }, and the headers supabase-js sent while signed out (values of
//     apikey and authorization replaced by which key they were).
if (typeof globalThis.WebSocket === "undefined") {
  globalThis.WebSocket = class {
    constructor() {
      throw new Error("realtime is not used in this test");
    }
  };
}
const { createClient } = await import("@supabase/supabase-js");
const silence = [console.warn, console.log];
console.warn = () => {};
console.log = () => {};
const [url, key, backend, email, password] = process.argv.slice(2);
function fail(message) {
  [console.warn, console.log] = silence;
  console.error(message);
  process.exit(1);
}
let seen = null;
const recording = async (input, init) => {
  if (seen === null) {
    const h = new Headers(init?.headers);
    seen = {};
    for (const [name, value] of h) {
      seen[name] = value === key ? "<publishable key>" : value === `Bearer ${key}` ? "Bearer <publishable key>" : name === "authorization" ? "Bearer <other>" : value;
    }
  }
  return fetch(input, init);
};
const supabase = createClient(url, key, {
  auth: { persistSession: false, autoRefreshToken: false },
  global: { fetch: recording },
});
async function call(f) {
  const res = await f(`${backend}/public/whoami`);
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}
const out = {};
out.signed_out = { fetch: await call(supabase.fetch), functions: await call(supabase.functionsFetch) };
out.headers = seen;
const { error } = await supabase.auth.signInWithPassword({ email, password });
if (error) fail(String(error.message));
out.signed_in = { fetch: await call(supabase.fetch), functions: await call(supabase.functionsFetch) };
[console.warn, console.log] = silence;
process.stdout.write(JSON.stringify(out));
