// Opens the chat example's page in headless Chromium, given two servers sharing their rooms
// through Redis, and waits while the test stops the page's server (SIGKILL or SIGTERM) and
// starts it again: the page must end up showing every message the other member said, once each
// and in order, never say that messages were lost, and have gone to the second server at once:
// one WebSocket to each server in `servers`, in order, and no other.
//
//   node tests/browser/restart.mjs 'http://127.0.0.1:PORT/?servers=...&room=...&name=...' COUNT
//
// Prints "ready" once the page has joined (the test then starts saying COUNT messages,
// "m1".."mCOUNT", as bob), then "ok" and exits 0 on success; says what went wrong and exits 1
// otherwise.

import { run } from "./chromium.mjs";

const [url, count] = [process.argv[2], Number(process.argv[3])];
if (!url || !count) {
  console.error("usage: node restart.mjs PAGE_URL COUNT");
  process.exit(2);
}

await run(async (context) => {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const sockets = [];
  page.on("websocket", (socket) => sockets.push(new URL(socket.url()).host));
  await page.goto(url);
  // Joined: the room's presence count arrived, through the server's own history.
  await page.waitForFunction(() => document.getElementById("status").dataset.count);
  console.log("ready");

  // Every message arrives within a minute, restart included.
  await page.waitForFunction(
    (count) => document.querySelectorAll("#messages li:not(.event)").length >= count,
    count,
    { timeout: 60000 },
  );
  // Anything duplicated would arrive right behind.
  await page.waitForTimeout(500);
  const shown = await page.$$eval("#messages li:not(.event)", (items) =>
    items.map((item) => item.textContent),
  );
  const expected = Array.from({ length: count }, (_, at) => `bob: m${at + 1}`);
  if (JSON.stringify(shown) !== JSON.stringify(expected)) {
    throw new Error(`the page shows ${JSON.stringify(shown)}`);
  }
  const events = await page.$$eval("#messages li.event", (items) =>
    items.map((item) => item.textContent),
  );
  if (events.some((event) => event.startsWith("some messages were lost"))) {
    throw new Error(`the page says ${JSON.stringify(events)}`);
  }
  const servers = new URL(url).searchParams.get("servers").split(",");
  if (JSON.stringify(sockets) !== JSON.stringify(servers)) {
    throw new Error(`the page opened WebSockets to ${JSON.stringify(sockets)}`);
  }
});
