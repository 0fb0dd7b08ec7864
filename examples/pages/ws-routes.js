// ws-routes.js: a WebSocket that reconnects and resumes its rooms, for pages talking to a
// ws-routes server. An ES module with no dependencies and no build step; the examples serve it
// at /ws-routes.js.
//
//   import { connect } from "/ws-routes.js";
//   const chat = connect(["ws://a.example/chat/lobby", "ws://b.example/chat/lobby"], {
//     onopen() { chat.send(JSON.stringify({ type: "join", name: "ada" })); },
//     onmessage(room, data) { ... },   // room: the room's name, or null for the route's own
//     onjoin(room, outcome) { ... },   // outcome: { status, recovered, replayed, position }
//     onclose(event) { ... },          // every connection that ended; event.willRetry says
//   });
//   chat.send(text);  // false when not connected
//   chat.close();     // for good
//
//   // Requests and replies, with a route that calls `WebSocket::enable_replies`:
//   const shop = connect(url, {
//     replies: { timeout: 5000 },         // or true: 10 s, and 64 requests in flight each way
//     onrequest(payload) { return "EUR"; }, // the server asks; the value (or a Promise) answers
//   });
//   const answer = await shop.request(JSON.stringify({ type: "price" }), { timeout: 2000 });
//
// What it does:
//
// - Connects to the first URL. Once a connection ends it connects again, with jittered
//   exponential backoff (from `minDelay`, 100 ms, doubling to `maxDelay`, 10 s; each wait a
//   random 50 to 100 % of that), unless the server closed with a code that says not to come
//   back (anything but 1000, 1001, 1006 and 1011 to 1014: 1007, 1008, 1009, 4xxx...).
// - Moves to the next URL at once, without a wait, when a server closed with 1001 (going
//   away) or 1012 (restarting), or the connection dropped or never opened (1006). The backoff
//   waits only once every URL has failed in a row. The URLs are servers sharing their rooms
//   (the Redis backplane), so a page recovers its rooms on any of them.
// - Keeps, per room, the position (EPOCH.OFFSET) of the last frame it read there, and presents
//   them on every reconnect as `ws-resume=EPOCH.OFFSET.ROOM` query parameters; a route that
//   joins with `Rooms::join_since` replays what the page missed, before any live message.
// - Strips the recovery envelope: a room message arrives as `\x1eEPOCH.OFFSET ROOM\n` then
//   the payload (text or binary), and is handed on as `onmessage(room, payload)`; the outcome
//   of a join, `\x1e!STATUS REPLAYED EPOCH.OFFSET ROOM`, as `onjoin(room, outcome)` where
//   `outcome.status` is "new", "recovered", "epoch-changed", "too-old", "unknown-position" or
//   "no-history", and `outcome.recovered` is false for the last four: messages were lost
//   (never silently), and the page should fetch the room's state anew. Frames without the
//   envelope (the route's own, to this connection) arrive as `onmessage(null, data)`.
// - Binary payloads arrive as ArrayBuffers.
// - With `replies` (true, or `{ timeout, maxInFlight }`: 10 s and 64 by default), requests
//   and replies as the README's "Replies" section describes them: `request(payload,
//   { timeout })` sends `\x1e?ID payload` and returns a Promise of the answer's payload (text or
//   ArrayBuffer), rejected with an Error on an error answer, a timeout, too many requests in
//   flight, or the end of the connection (requests do not survive a reconnect). A request of
//   the server goes to `onrequest(payload)`, whose return value (or the value of the Promise
//   it returns) is the reply; a throw or rejection answers with its message as the error.

const MARK = 0x1e;
const RETRY = new Set([1000, 1001, 1006, 1011, 1012, 1013, 1014]);
const MOVE_ON = new Set([1001, 1006, 1012]);
const LOST = new Set(["epoch-changed", "too-old", "unknown-position", "no-history"]);

/**
 * Opens a reconnecting, resuming connection to `urls` (a URL or a list of URLs of servers that
 * share their rooms). Returns `{ send(data), close(code, reason), positions, get connected }`.
 */
export function connect(urls, options = {}) {
  urls = Array.isArray(urls) ? urls : [urls];
  if (urls.length === 0) throw new Error("connect needs at least one URL");
  const minDelay = options.minDelay ?? 100;
  const maxDelay = options.maxDelay ?? 10000;
  const positions = new Map(); // room -> "EPOCH.OFFSET"
  let at = 0; // the URL in use
  let failed = 0; // attempts in a row that did not open
  let delay = minDelay;
  let socket = null;
  let timer = null;
  let closed = false;

  const call = (name, ...args) => options[name]?.(...args);
  const replies = options.replies ? requests(options.replies, options) : null;

  function open() {
    timer = null;
    const ws = new WebSocket(withClaims(urls[at], positions), options.protocols);
    ws.binaryType = "arraybuffer";
    socket = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      failed = 0;
      delay = minDelay;
      call("onopen", ws);
    };
    ws.onmessage = (event) => {
      if (!replies?.receive(ws, event.data)) receive(event.data);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      replies?.fail("the connection closed before an answer came");
      const willRetry = !closed && RETRY.has(event.code);
      call("onclose", { code: event.code, reason: event.reason, willRetry, url: urls[at] });
      if (!willRetry) return;
      if (!opened) failed += 1;
      if (MOVE_ON.has(event.code)) at = (at + 1) % urls.length;
      // At once to another server, unless every URL has failed in a row (or there is one).
      const atOnce =
        MOVE_ON.has(event.code) && urls.length > 1 && (opened || failed % urls.length !== 0);
      if (atOnce) {
        open();
      } else {
        timer = setTimeout(open, delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, maxDelay);
      }
    };
  }

  function receive(data) {
    const envelope = unwrap(data);
    if (!envelope) return call("onmessage", null, data);
    positions.set(envelope.room, envelope.position);
    if (envelope.status === undefined) return call("onmessage", envelope.room, envelope.payload);
    call("onjoin", envelope.room, {
      status: envelope.status,
      recovered: !LOST.has(envelope.status),
      replayed: envelope.replayed,
      position: envelope.position,
    });
  }

  open();
  return {
    /** Sends on the open connection; false when there is none. */
    send(data) {
      if (socket?.readyState !== WebSocket.OPEN) return false;
      socket.send(data);
      return true;
    },
    /**
     * Asks the server `payload` (text or binary) and resolves with its answer; needs the
     * `replies` option. `options.timeout` overrides the default (ms).
     */
    request(payload, options = {}) {
      if (!replies) return Promise.reject(new Error("replies are off: pass the `replies` option"));
      return replies.request(socket, payload, options);
    },
    /** Closes for good: no reconnecting. */
    close(code = 1000, reason = "") {
      closed = true;
      clearTimeout(timer);
      socket?.close(code, reason);
    },
    /** The last position read per room: a Map of room to "EPOCH.OFFSET". */
    positions,
    get connected() {
      return socket?.readyState === WebSocket.OPEN;
    },
  };
}

// --- Requests and replies (the README's "Replies"): everything from here to the matching
// end line, and the `replies` calls in `connect`.

const REQUEST = 0x3f; // "?"
const ANSWER = 0x3d; // "="

/**
 * The requests in flight of one `connect`, and the answers to the server's: `receive` takes a
 * frame that is a request or an answer (true), or leaves it (false).
 */
function requests(settings, options) {
  const timeout = settings.timeout ?? 10000;
  const maxInFlight = settings.maxInFlight ?? 64;
  const waiting = new Map(); // id -> { resolve, reject, timer }
  let lastId = 0;
  let answering = 0;

  function settle(id, outcome, value) {
    const request = waiting.get(id);
    if (!request) return; // late, or answers nothing: ignored
    waiting.delete(id);
    clearTimeout(request.timer);
    request[outcome](value);
  }

  async function answer(ws, id, payload) {
    let reply;
    try {
      if (!options.onrequest) throw new Error("this page takes no requests");
      // Nothing returned is an empty text.
      reply = frame(`=${id} `, (await options.onrequest(payload)) ?? "");
    } catch (error) {
      reply = `\x1e=${id}!${error?.message ?? error}`;
    }
    answering -= 1;
    if (ws.readyState === WebSocket.OPEN) ws.send(reply);
  }

  return {
    request(ws, payload, { timeout: limit = timeout } = {}) {
      if (ws?.readyState !== WebSocket.OPEN) return Promise.reject(new Error("not connected"));
      if (waiting.size >= maxInFlight) {
        return Promise.reject(new Error(`${maxInFlight} requests are in flight already`));
      }
      const id = ++lastId;
      return new Promise((resolve, reject) => {
        const expired = () => settle(id, "reject", new Error(`no answer within ${limit} ms`));
        const timer = setTimeout(expired, limit);
        waiting.set(id, { resolve, reject, timer });
        ws.send(frame(`?${id} `, payload));
      });
    },
    receive(ws, data) {
      const head = header(data);
      if (!head) return false;
      if (head.kind === REQUEST) {
        if (head.malformed) ws.send(`\x1e=${head.id ?? 0}!malformed request`);
        else if (answering >= maxInFlight) {
          ws.send(`\x1e=${head.id}!too many requests in flight: at most ${maxInFlight}`);
        } else {
          answering += 1;
          answer(ws, head.id, head.payload);
        }
      } else if (head.malformed) {
        // An answer that names no request: ignored.
      } else if (head.refused !== undefined) {
        settle(head.id, "reject", new Error(`the server answered with an error: ${head.refused}`));
      } else {
        settle(head.id, "resolve", head.payload);
      }
      return true;
    },
    fail(reason) {
      for (const id of [...waiting.keys()]) settle(id, "reject", new Error(reason));
    },
  };
}

/** `payload` (text or binary) after the header `\x1e` + `head`, in its own frame type. */
function frame(head, payload) {
  if (typeof payload === "string") return `\x1e${head}${payload}`;
  const body = ArrayBuffer.isView(payload)
    ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
    : new Uint8Array(payload);
  const bytes = new Uint8Array(1 + head.length + body.length);
  bytes[0] = MARK;
  bytes.set(new TextEncoder().encode(head), 1);
  bytes.set(body, 1 + head.length);
  return bytes.buffer;
}

/**
 * Reads the header of a request or an answer: `{ kind, id, payload }`, with `refused` for an
 * error answer, or `malformed` (and `id` null when the number does not parse); null for any
 * other frame.
 */
function header(data) {
  const text = typeof data === "string";
  const bytes = text ? null : new Uint8Array(data);
  const at = (i) => (text ? data.charCodeAt(i) : bytes[i]);
  const kind = at(1);
  if (at(0) !== MARK || (kind !== REQUEST && kind !== ANSWER)) return null;
  let end = 2;
  while (at(end) >= 0x30 && at(end) <= 0x39) end += 1;
  const digits = text ? data.slice(2, end) : new TextDecoder().decode(bytes.subarray(2, end));
  const id = /^[1-9][0-9]{0,19}$/.test(digits) ? Number(digits) : null;
  if (kind === ANSWER && at(end) === 0x21) {
    const reason = text ? data.slice(end + 1) : new TextDecoder().decode(bytes.subarray(end + 1));
    return { kind, id, refused: reason };
  }
  if (id === null || at(end) !== 0x20) return { kind, id, malformed: true };
  return { kind, id, payload: data.slice(end + 1) };
}

// --- End of requests and replies.

/** `url` with one `ws-resume=EPOCH.OFFSET.ROOM` parameter per room in `positions`. */
function withClaims(url, positions) {
  const claims = [...positions].map(
    ([room, position]) => `ws-resume=${encodeURIComponent(`${position}.${room}`)}`,
  );
  if (claims.length === 0) return url;
  return url + (url.includes("?") ? "&" : "?") + claims.join("&");
}

/**
 * Reads the envelope of a frame: `{ room, position, payload }` for a room message,
 * `{ room, position, status, replayed }` for a join's outcome, or null for a frame without one.
 */
function unwrap(data) {
  let header;
  let payload;
  if (typeof data === "string") {
    if (data.charCodeAt(0) !== MARK) return null;
    const end = data.indexOf("\n");
    header = end < 0 ? data.slice(1) : data.slice(1, end);
    payload = end < 0 ? "" : data.slice(end + 1);
  } else {
    const bytes = new Uint8Array(data);
    if (bytes[0] !== MARK) return null;
    const end = bytes.indexOf(0x0a);
    if (end < 0) return null;
    header = new TextDecoder().decode(bytes.subarray(1, end));
    payload = data.slice(end + 1);
  }
  const fields = header.split(" ");
  if (header.startsWith("!")) {
    const [status, replayed, position, room] = fields;
    return { room: decodeURIComponent(room), position, status: status.slice(1), replayed: Number(replayed) };
  }
  const [position, room] = fields;
  return { room: decodeURIComponent(room), position, payload };
}
