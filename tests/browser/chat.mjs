// Opens the chat example's page in two tabs of headless Chromium (Debian's, driven by
// playwright-core) and checks that a message typed in one appears in the other, and that a
// malformed event from a third socket is closed with 1007 while the tabs keep chatting.
//
//   node tests/browser/chat.mjs http://127.0.0.1:PORT/
//
// Prints "ok" and exits 0 on success; says what went wrong and exits 1 otherwise.

import { run } from "./chromium.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node chat.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}

await run(async (context) => {
  const open = async (name) => {
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(`${base}?room=lobby&name=${name}`);
    await page.locator("#text:enabled").waitFor();
    return page;
  };
  const ada = await open("ada");
  const bob = await open("bob");
  // Both are in the room: ada's tab counts two members.
  await ada.waitForFunction(() => document.getElementById("status").dataset.count === "2");
  // ...and shows who is online, by name.
  await ada.locator("#online", { hasText: "online: ada, bob" }).waitFor();

  await ada.fill("#text", "hello from ada's tab");
  await ada.press("#text", "Enter");
  await bob.locator("#messages li", { hasText: "ada: hello from ada's tab" }).waitFor();
  // The sender's own tab shows it too, through the server.
  await ada.locator("#messages li", { hasText: "ada: hello from ada's tab" }).waitFor();

  // The page speaks typed JSON events; a socket that sends something else is closed with 1007.
  const closed = await ada.evaluate(
    () =>
      new Promise((resolve) => {
        const rogue = new WebSocket(`ws://${location.host}/chat/lobby`);
        rogue.onopen = () => rogue.send(JSON.stringify({ type: "dance" }));
        rogue.onclose = (event) => resolve({ code: event.code, reason: event.reason });
      }),
  );
  if (closed.code !== 1007 || !closed.reason.startsWith("invalid JSON: unknown variant `dance`")) {
    throw new Error(`a malformed event got ${closed.code} ${closed.reason}`);
  }

  await bob.fill("#text", "and back from bob");
  await bob.click("#send");
  await ada.locator("#messages li", { hasText: "bob: and back from bob" }).waitFor();

  // "@ada ..." whispers: ada's tab shows it, to her alone.
  await bob.fill("#text", "@ada just for you");
  await bob.press("#text", "Enter");
  await ada.locator("#messages li", { hasText: "bob (to you): just for you" }).waitFor();
});
