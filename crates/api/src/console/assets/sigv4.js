// AWS Signature Version 4 in the browser, as the AWS SDK signs a request to `iot`.
//
// Pure JavaScript SHA-256 and HMAC: crypto.subtle exists only in secure contexts, and
// the console must also work over plain http on a LAN address. Synchronous and small;
// requests are a few KiB at most.
//
// The server verifies with aws-sigv4's default settings, as the SDK signs for `iot`:
// the canonical URI is the path exactly as sent, percent-encoded once more (each label
// is sent encoded with `encodeLabel`, so a `%` in it appears as `%25` in the canonical
// URI), and the canonical query is the parameters sorted by name, then value.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (bytes pass through). */
function bytes(data) {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** SHA-256 of a string (UTF-8) or Uint8Array, as a Uint8Array of 32 bytes. */
export function sha256(data) {
  const msg = bytes(data);
  const bitLen = msg.length * 8;
  const padded = new Uint8Array(((msg.length + 9 + 63) >> 6) << 6);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
  return out;
}

/** HMAC-SHA256(key, data) as bytes. */
export function hmac(key, data) {
  let k = bytes(key);
  if (k.length > 64) k = sha256(k);
  const ipad = new Uint8Array(64);
  const opad = new Uint8Array(64);
  for (let i = 0; i < 64; i++) {
    const b = i < k.length ? k[i] : 0;
    ipad[i] = b ^ 0x36;
    opad[i] = b ^ 0x5c;
  }
  const msg = bytes(data);
  const inner = new Uint8Array(64 + msg.length);
  inner.set(ipad);
  inner.set(msg, 64);
  const innerHash = sha256(inner);
  const outer = new Uint8Array(64 + 32);
  outer.set(opad);
  outer.set(innerHash, 64);
  return sha256(outer);
}

/** Lower-case hex of bytes. */
export function hex(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

// The self-check: a wrong hash would make every signature fail with a confusing
// InvalidSignatureException, so say so at load instead.
const SELF_CHECK = [
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
];
export const selfCheckError = (() => {
  for (const [input, want] of SELF_CHECK) {
    const got = hex(sha256(input));
    if (got !== want) return `SHA-256 self-check failed for "${input}": ${got}`;
  }
  // RFC 4231 test case 2.
  const mac = hex(hmac("Jefe", "what do ya want for nothing?"));
  if (mac !== "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") {
    return `HMAC-SHA256 self-check failed: ${mac}`;
  }
  return null;
})();
if (selfCheckError) console.error(selfCheckError);

/** SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper case). */
export function uriEncode(s) {
  let out = "";
  for (const b of encoder.encode(s)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** A path label as sent: encodeURIComponent, and the few characters it leaves too. */
export function encodeLabel(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The query string of `params` (an object; undefined, null and "" values are left out),
 * sorted and encoded as SigV4's canonical query, so that what is sent is what is signed. */
export function queryString(params) {
  const pairs = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    pairs.push([uriEncode(k), uriEncode(String(v))]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** `20261205T170000Z` of a Date. */
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * The headers to send with a request, signed: `method`, `path` (as sent, labels already
 * encoded), `query` (a string from `queryString`), `body` (string or ""), `host`,
 * `credentials` {accessKeyId, secretAccessKey, region, sessionToken?}, `service` ("iot").
 */
export function sign({ method, path, query = "", body = "", host, credentials, service = "iot", now = new Date() }) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const payloadHash = hex(sha256(body));
  const headers = { host, "x-amz-content-sha256": payloadHash, "x-amz-date": date };
  if (body !== "") headers["content-type"] = "application/json";
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalUri = (path || "/").split("/").map(uriEncode).join("/");
  // `queryString` already sorts and encodes as the canonical query does.
  const canonicalQuery = query;
  const canonicalRequest = [method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${day}/${credentials.region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", date, scope, hex(sha256(canonicalRequest))].join("\n");
  let key = hmac("AWS4" + credentials.secretAccessKey, day);
  key = hmac(key, credentials.region);
  key = hmac(key, service);
  key = hmac(key, "aws4_request");
  const signature = hex(hmac(key, stringToSign));
  const out = { ...headers };
  delete out.host; // the browser sends it (and may not set it)
  out.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
