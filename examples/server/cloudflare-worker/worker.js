// A Cloudflare Worker in front of `aim server` (>= 3.19) that lets a request through only
// with `Authorization: Bearer <AIM_TOKEN>`, and forwards it - plain HTTP and the WebSocket
// upgrade of /tracking/<uri>/write-instruction/ alike - to the origin.
//
// Aim itself has no authentication: anyone who can reach `aim server` can read and write
// every run. This Worker (or the nginx configuration next to it) is what makes the SDK's
// AIM_AUTH_TOKEN mean something. Keep the origin unreachable except through Cloudflare
// (a Cloudflare Tunnel, or a firewall allowing only Cloudflare's addresses).
//
// Setup (wrangler.toml is in this directory):
//   wrangler secret put AIM_TOKEN        # the token clients export as AIM_AUTH_TOKEN
//   set ORIGIN in wrangler.toml          # e.g. "https://aim-origin.example.com"
//   wrangler deploy
// Clients: AIM_AUTH_TOKEN=<token>, repo aim://<worker host>:443 (aim-doctor checks it).

export default {
  async fetch(request, env) {
    if (!env.AIM_TOKEN || !env.ORIGIN) {
      // Fail closed: a Worker without its secret must not become an open proxy.
      return json(500, { detail: "worker not configured (AIM_TOKEN, ORIGIN)" });
    }
    const header = request.headers.get("Authorization");
    if (header === null) {
      // 401 for "no credentials": aim-doctor and the SDK report it as missing credentials.
      return json(401, { detail: "missing bearer token" }, { "WWW-Authenticate": "Bearer" });
    }
    const match = /^Bearer (.+)$/.exec(header);
    if (match === null || !(await sameSecret(match[1], env.AIM_TOKEN))) {
      // 403 for "wrong credentials", never saying what was expected.
      return json(403, { detail: "invalid bearer token" });
    }

    // Forward to the origin with the same path and query. The token is for this gate only:
    // do not pass it on to a server that does not need it.
    const url = new URL(request.url);
    const origin = new URL(env.ORIGIN);
    url.protocol = origin.protocol;
    url.host = origin.host;
    const headers = new Headers(request.headers);
    headers.delete("Authorization");
    // fetch() forwards a WebSocket upgrade (Upgrade: websocket) as is and returns the 101
    // with its webSocket, which the Worker hands straight back to the client. Cloudflare
    // drops idle WebSockets after ~100 s; the SDK pings well within that.
    return fetch(url.toString(), {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",  // the SDK does not follow redirects; neither do we
    });
  },
};

// Constant-time comparison via SHA-256 digests, so the answer time does not leak how many
// leading characters of a guess were right.
async function sameSecret(given, expected) {
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(given)),
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
  ]);
  const x = new Uint8Array(a), y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

function json(status, body, extra = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...extra },
  });
}
