// Talks to tests/replies.rs' routes through the browser module, /ws-routes.js, under node's
// own WebSocket (no browser needed): the page asks the server (a sum, bad input refused, a
// timeout, messages that arrive before the answer), and answers the server's requests.
//
//   node --experimental-websocket tests/browser/replies.mjs ws://127.0.0.1:PORT/
//
// Prints "ok" and exits 0 on success; says what went wrong and exits 1 otherwise.

import assert from "node:assert/strict";

import { connect } from "../../examples/pages/ws-routes.js";

const base = process.argv[2];
if (!base) {
  console.error("usage: node --experimental-websocket replies.mjs ws://127.0.0.1:PORT/");
  process.exit(2);
}

/** Connects to `path` with replies on and resolves once open: `[connection, messages]`. */
function open(path, options = {}) {
  const messages = [];
  return new Promise((resolve, reject) => {
    const connection = connect(base + path, {
      replies: { timeout: 5000 },
      onopen: () => resolve([connection, messages]),
      onmessage: (room, data) => messages.push(data),
      onclose: (event) => reject(new Error(`closed with ${event.code}`)),
      ...options,
    });
  });
}

/** Resolves once `messages` holds `count` of them. */
async function until(messages, count) {
  for (let waited = 0; messages.length < count; waited += 10) {
    if (waited > 5000) throw new Error(`only ${JSON.stringify(messages)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

try {
  // The page asks.
  const [serve, heard] = await open("serve/8");
  assert.equal(await serve.request("[1, 2, 3]"), "6");
  await assert.rejects(
    serve.request('"two"'),
    /^Error: the server answered with an error: invalid JSON/,
  );
  await assert.rejects(
    serve.request(new Uint8Array([1])),
    /^Error: the server answered with an error: expected JSON text, got a binary message$/,
  );
  await assert.rejects(serve.request("late", { timeout: 100 }), /^Error: no answer within 100 ms$/);
  assert.equal(await serve.request("chatter"), "done");
  assert.deepEqual(heard, ["one", "two", "three"]);
  const [first, second] = await Promise.all([serve.request("[20, 22]"), serve.request("[1]")]);
  assert.deepEqual([first, second], ["42", "1"]);
  serve.close();

  // The server asks: a sum on its socket, then a name through a sender.
  const [ask, told] = await open("ask", {
    onrequest(payload) {
      if (payload === "[1,2,3]") return "6";
      if (payload === '"name?"') return Promise.resolve('"ada"');
      throw new Error(`unexpected ${payload}`);
    },
  });
  await until(told, 2);
  assert.deepEqual(told, ["total 6", "hello ada"]);
  ask.close();
  console.log("ok");
  process.exit(0);
} catch (error) {
  console.log(error instanceof Error ? error.stack : String(error));
  process.exit(1);
}
