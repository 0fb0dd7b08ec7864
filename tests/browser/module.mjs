// Loads the browser module, /ws-routes.js, in a page of the test's server (headless Chromium)
// and talks through it to a route that joins its room with `join_since` and broadcasts what it
// is sent: a text and a binary message come back without their envelope, with the room's name
// decoded; the join's outcome is handed over; and after the server ends the connection (having
// broadcast one more message the page was no longer there for), the module reconnects,
// presents its position, and the page gets the missed message after a "recovered" outcome.
//
//   node tests/browser/module.mjs http://127.0.0.1:PORT/
//
// Prints "ok" and exits 0 on success; says what went wrong and exits 1 otherwise.

import { run } from "./chromium.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node module.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}

// Runs in the page: what the module handed over, in order.
async function talk(url) {
  const { connect } = await import("/ws-routes.js");
  const heard = [];
  let opened = 0;
  await new Promise((done, failed) => {
    setTimeout(() => failed(new Error(`only heard ${JSON.stringify(heard)}`)), 10000);
    const feed = connect(url, {
      onopen() {
        opened += 1;
        if (opened === 1) {
          feed.send(new Uint8Array([1, 2, 30]));
          feed.send("hello");
        }
      },
      onjoin(room, outcome) {
        heard.push(["join", room, outcome.status, outcome.recovered, outcome.replayed]);
      },
      onmessage(room, data) {
        const payload = typeof data === "string" ? data : [...new Uint8Array(data)];
        heard.push(["message", room, payload]);
        if (payload === "hello") feed.send("bye");
        if (payload === "missed") {
          feed.close();
          done();
        }
      },
    });
  });
  return heard;
}

await run(async (context) => {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(base);
  const heard = await page.evaluate(talk, `${base.replace("http://", "ws://")}feed/a%20room`);
  const expected = [
    ["join", "a room", "new", true, 0],
    ["message", "a room", [1, 2, 30]],
    ["message", "a room", "hello"],
    ["join", "a room", "recovered", true, 1],
    ["message", "a room", "missed"],
  ];
  if (JSON.stringify(heard) !== JSON.stringify(expected)) {
    throw new Error(`the page heard ${JSON.stringify(heard)}`);
  }
});
