// A minimal Dialpad webhook handler to copy: Node 20, no framework, no npm
// packages. It verifies each event's HS256 JWT with the secret in
// DIALPAD_SECRET and prints one line per event.
//
//   DIALPAD_SECRET=... node examples/node-handler/server.js     # 127.0.0.1:3000
//   dialpad-tunnel listen --websocket-id 1234 --forward-to http://127.0.0.1:3000/webhooks
//
// With DIALPAD_SECRET set, the body must be the compact JWT Dialpad sends
// (Content-Type application/jwt through the tunnel). Without it, plain JSON
// events are accepted. Answers: 200 printed, 401 signature or algorithm
// refused, 400 body unreadable. HOST and PORT set the listen address.
//
// A second copy of an event (the same X-Dialpad-Tunnel-Event-Id, from a
// second dialpad-tunnel on the same websocket) is answered 200 and logged
// as a duplicate, not processed again.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
const PATH = process.env.WEBHOOK_PATH || '/webhooks';
const SECRET = process.env.DIALPAD_SECRET || '';
const MAX_BODY = 8 << 20;

// Event ids processed, id → when (ms), oldest first (a Map keeps insertion
// order). Kept for 24 h, the agent's default --max-age: an agent that was
// down or retrying sends its copy up to that late. At most MAX_IDS are
// kept, the oldest forgotten first, so memory stays bounded whatever the
// rate; above ~100,000 events a day, raise it or keep the ids in your
// database. In memory: a restart of the handler forgets them.
const KEEP_MS = 24 * 60 * 60 * 1000;
const MAX_IDS = 100_000;
// An event id is a UUID (36 bytes): a longer one is refused, so that the
// number of ids, not a header's length, bounds memory.
const MAX_ID_LEN = 64;
const seen = new Map();

function forgetOld(now) {
  for (const [id, when] of seen) {
    if (seen.size < MAX_IDS && now - when <= KEEP_MS) break;
    seen.delete(id);
  }
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// base64url segments only: A-Z a-z 0-9 - _
function b64url(seg, what) {
  if (!/^[A-Za-z0-9_-]*$/.test(seg)) throw new HttpError(400, `${what} is not base64url`);
  return Buffer.from(seg, 'base64url');
}

// verifyHS256 returns the JWT's payload bytes once the signature matches.
// Only HS256 is accepted: alg "none", HS512, RS256 … are refused before any
// key is used. Time claims are not checked: Dialpad may not send them.
function verifyHS256(token, secret) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new HttpError(400, `not a compact JWT: ${parts.length} segment(s)`);
  const [h, p, s] = parts;
  let header;
  try {
    header = JSON.parse(b64url(h, 'header').toString('utf8'));
  } catch (e) {
    throw e instanceof HttpError ? e : new HttpError(400, 'JWT header is not JSON');
  }
  if (header === null || typeof header !== 'object' || header.alg !== 'HS256') {
    throw new HttpError(401, `alg ${JSON.stringify(header && header.alg)} refused: only HS256`);
  }
  const want = crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${h}.${p}`).digest();
  const got = b64url(s, 'signature');
  // timingSafeEqual needs equal lengths; the length of an HMAC is no secret.
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
    throw new HttpError(401, 'signature does not match DIALPAD_SECRET');
  }
  return b64url(p, 'payload');
}

// parseLossless is JSON.parse that keeps integers above 2^53 (Dialpad ids)
// exact by turning them into strings first; JSON.parse would round them.
function parseLossless(text) {
  const quoted = text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g,
    (m) => (m[0] === '"' ? m : `"${m}"`));
  return JSON.parse(quoted);
}

// describe returns "[verified] call hangup call_id=123" and the like. The
// type is guessed from fields only one event type carries.
function describe(ev, tag) {
  const t = ev.target || {};
  const c = ev.contact || {};
  if (ev.call_id !== undefined) return `${tag} call ${ev.state} call_id=${ev.call_id}`;
  if (ev.on_duty_status !== undefined || ev.availability_status !== undefined) {
    return `${tag} agent_status ${ev.on_duty_status ?? ev.availability_status} agent_id=${t.id}`;
  }
  if (ev.event && c.id !== undefined) return `${tag} contact ${ev.event} contact_id=${c.id}`;
  if (ev.action && ev.changed_by) return `${tag} changelog ${ev.action} target_id=${t.id}`;
  if (ev.from_number !== undefined || ev.message_status !== undefined) {
    return `${tag} sms ${ev.direction} ${ev.message_status} id=${ev.id}`;
  }
  return `${tag} unknown event`;
}

// handle processes one event; it returns false for a duplicate.
function handle(body, eventId) {
  const text = body.toString('utf8').trim();
  const isJSON = text.startsWith('{');
  let json;
  let tag;
  if (!SECRET) {
    if (!isJSON) throw new HttpError(401, 'signed event but DIALPAD_SECRET is not set');
    json = text;
    tag = '[unsigned]';
  } else {
    if (isJSON) throw new HttpError(401, 'unsigned JSON event but DIALPAD_SECRET is set');
    json = verifyHS256(text, SECRET).toString('utf8');
    tag = '[verified]';
  }
  let ev;
  try {
    ev = parseLossless(json);
  } catch {
    throw new HttpError(400, 'event is not JSON');
  }
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) throw new HttpError(400, 'event is not a JSON object');
  // Checked once verified: a forger gets no 200 by naming an id seen
  // already. Without the header (a real Dialpad webhook) there is nothing
  // to drop by, and every POST is processed.
  if (eventId && eventId.length > MAX_ID_LEN) {
    throw new HttpError(400, `X-Dialpad-Tunnel-Event-Id of ${eventId.length} characters: not an event id`);
  }
  const now = performance.now(); // monotonic: a clock step forgets no id
  forgetOld(now);
  if (eventId && seen.has(eventId)) return false;
  // Your processing goes here. Throw if it fails (an HttpError(500), say):
  // the id is not remembered, the agent retries, and the retry is
  // processed. Keep it synchronous, or mark the id as in progress before
  // the first await: two copies (two agents) often arrive at once.
  console.log(describe(ev, tag));
  if (eventId) seen.set(eventId, now);
  return true;
}

const server = http.createServer((req, res) => {
  // The path alone: a query (a token in --forward-to, say) is not part of it.
  if (req.url.split('?', 1)[0] !== PATH) {
    res.writeHead(404).end();
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY) {
      chunks.push(chunk);
    } // else read to the end and dropped: answered 413 there
  });
  req.on('end', () => {
    if (size > MAX_BODY) {
      // A final answer: the agent keeps the event as a dead letter
      // (a dropped connection would be retried for --max-age).
      console.error(`rejected 413: body of ${size} bytes, over ${MAX_BODY}`);
      res.writeHead(413, { 'Content-Type': 'text/plain' }).end('Payload Too Large\n');
      return;
    }
    try {
      const eventId = req.headers['x-dialpad-tunnel-event-id'];
      if (!handle(Buffer.concat(chunks), eventId)) console.log(`duplicate event ${eventId}: processed already`);
      res.writeHead(200).end();
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      console.error(`rejected ${status}: ${e.message}`);
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`${http.STATUS_CODES[status]}\n`);
    }
  });
});

server.listen(PORT, HOST, () => {
  const { address, port } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  const mode = SECRET ? 'verifying HS256 JWTs with DIALPAD_SECRET' : 'DIALPAD_SECRET not set: accepting unsigned JSON';
  console.log(`listening on http://${host}:${port}${PATH} (${mode})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
