// The Node baseline for benches/load/proxy.sh: the minimal cookie-to-bearer forwarding a
// Next.js route handler does (read the @supabase/ssr session cookie, take its access token,
// call the backend with `Authorization: Bearer`), with no verification and no refresh (less
// work than supagate's proxy does).
//
//   node proxy.mjs <fetch|undici> <port> <backend origin> <cookie name>
import http from "node:http";

const [mode, port, upstream, cookieName] = process.argv.slice(2);

let call;
if (mode === "undici") {
  const { Pool } = await import("undici");
  const pool = new Pool(upstream, { connections: 64 });
  call = async (path, headers) => {
    const r = await pool.request({ path, method: "GET", headers });
    const body = Buffer.from(await r.body.arrayBuffer());
    return [r.statusCode, r.headers["content-type"], body];
  };
} else {
  call = async (path, headers) => {
    const r = await fetch(upstream + path, { headers });
    const body = Buffer.from(await r.arrayBuffer());
    return [r.status, r.headers.get("content-type"), body];
  };
}

// `@supabase/ssr`'s format: one cookie or chunks `<name>.0`, `<name>.1`, ..., a `base64-`
// prefix and base64url of the session JSON.
function accessToken(header) {
  const chunks = [];
  let whole = null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = decodeURIComponent(part.slice(eq + 1).trim());
    if (name === cookieName) whole = value;
    else if (name.startsWith(cookieName + ".")) chunks[Number(name.slice(cookieName.length + 1))] = value;
  }
  let value = whole ?? (chunks.length ? chunks.join("") : null);
  if (!value) return null;
  if (value.startsWith("base64-")) value = Buffer.from(value.slice(7), "base64url").toString("utf8");
  try {
    return JSON.parse(value).access_token ?? null;
  } catch {
    return null;
  }
}

http
  .createServer(async (req, res) => {
    const token = accessToken(req.headers.cookie ?? "");
    if (!token) {
      res.writeHead(401).end();
      return;
    }
    try {
      const [status, type, body] = await call("/profile/me", { authorization: `Bearer ${token}` });
      res.writeHead(status, type ? { "content-type": type } : {});
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));
