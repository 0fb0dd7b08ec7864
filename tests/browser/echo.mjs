// Opens a page of the test's server in headless Chromium (Debian's, driven by playwright-core)
// and, from the page, talks to its echo route: a binary message (an ArrayBuffer), a large text
// message, then a close with a code and reason that the server's handler records. Chromium
// offers permessage-deflate and the server accepts it: the page checks `ws.extensions`.
//
//   node tests/browser/echo.mjs http://127.0.0.1:PORT/
//
// Prints "ok" and exits 0 on success; says what went wrong and exits 1 otherwise.

import { run } from "./chromium.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node echo.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}


// Runs in the page: returns "ok" or what went wrong.
async function talk(url) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const arrived = [];
  let waiting = null;
  ws.onmessage = (event) => {
    arrived.push(event.data);
    if (waiting) waiting();
  };
  const next = () =>
    new Promise((resolve) => {
      if (arrived.length) return resolve(arrived.shift());
      waiting = () => {
        waiting = null;
        resolve(arrived.shift());
      };
    });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`could not connect to ${url}`));
  });

  if (!ws.extensions.startsWith("permessage-deflate")) {
    return `no compression negotiated: extensions "${ws.extensions}"`;
  }

  const bytes = new Uint8Array(70000).map((_, index) => index % 251);
  ws.send(bytes.buffer);
  const back = await next();
  if (!(back instanceof ArrayBuffer)) return `binary came back as ${typeof back}`;
  const echoed = new Uint8Array(back);
  if (echoed.length !== bytes.length || echoed.some((byte, index) => byte !== bytes[index])) {
    return "the binary echo differs";
  }

  // 850,000 bytes of UTF-8, under the server's 1 MiB limit.
  const large = "ws-routes é ✓ ".repeat(50000);
  ws.send(large);
  if ((await next()) !== large) return "the large text echo differs";

  const closed = new Promise((resolve) => {
    ws.onclose = resolve;
  });
  ws.close(4321, "bye from chromium");
  const event = await closed;
  if (event.code !== 4321 || !event.wasClean) {
    return `closed with ${event.code} (clean: ${event.wasClean})`;
  }
  return "ok";
}

await run(async (context) => {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(base);
  const url = `${base.replace("http://", "ws://")}echo`;
  const result = await page.evaluate(talk, url);
  if (result !== "ok") throw new Error(result);
});
