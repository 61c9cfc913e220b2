// SPDX-License-Identifier: BSD-3-Clause
// shots.mjs: open each page of a case list in headless Chromium (Debian chromium driven by
// playwright-core), wait until it has drawn everything, screenshot it, and note where the
// data is drawn. Neuroglancer pages are ready when viewer.isReady() (no chunk still loading);
// /view pages when window.cvView.ready. Every request the browser makes is recorded, and any
// to a host other than 127.0.0.1 is reported (the test also runs without a network).
// Usage: node shots.mjs CASES.json RESULTS.json
//   CASES.json: [{"name", "kind": "ng"|"view", "url", "out": "shot.png"}, ...]
//   RESULTS.json: [{"name", "ready", "rect": {x, y, width, height}, "foreign": [...],
//                   "errors": [...], "ms"}, ...]
import fs from "node:fs";
import { chromium } from "playwright-core";

const [casesFile, resultsFile] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CV_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
         "--disable-features=OptimizationHints,MediaRouter,Translate"],
});
const results = [];
for (const c of cases) {
  const t0 = Date.now();
  const page = await browser.newPage({ viewport: { width: 800, height: 800 },
                                       deviceScaleFactor: 1 });
  const foreign = [], errors = [];
  // Browsers ask every origin for a favicon; neither server has one, and that 404 is no error.
  await page.route("**/favicon.ico", r => r.fulfill({ status: 204, body: "" }));
  page.on("request", r => {
    const u = new URL(r.url());
    if (!["http:", "https:", "ws:", "wss:"].includes(u.protocol)) return; // data:, blob:
    if (u.hostname !== "127.0.0.1") foreign.push(r.url());
  });
  page.on("pageerror", e => errors.push("pageerror: " + e.message));
  page.on("response", r => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  page.on("console", m => { if (m.type() === "error") errors.push("console: " + m.text()); });
  await page.goto(c.url, { waitUntil: "load" });
  const isReady = c.kind === "ng"
    ? () => window.viewer && window.viewer.isReady && window.viewer.isReady()
    : () => window.cvView && window.cvView.ready;
  const ready = await page.waitForFunction(isReady, null, { timeout: 60000, polling: 100 })
    .then(() => true, e => "timeout: " + e.message.split("\n")[0]);
  await page.waitForTimeout(c.mode === "silhouette" ? 1500 : c.kind === "ng" ? 500 : 100);
  // Still ready after the pause (Neuroglancer may have asked for more chunks meanwhile).
  if (ready === true) await page.waitForFunction(isReady, null, { timeout: 30000, polling: 100 });
  const rect = await page.evaluate(kind => {
    const el = kind === "ng" ? document.querySelector(".neuroglancer-rendered-data-panel")
                             : document.getElementById("slice");
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  }, c.kind);
  await page.screenshot({ path: c.out });
  results.push({ name: c.name, ready, rect, foreign, errors, ms: Date.now() - t0 });
  console.log(`${c.name}: ready=${ready} ${Date.now() - t0} ms` +
              (foreign.length ? ` FOREIGN ${foreign.length}` : ""));
  await page.close();
}
await browser.close();
fs.writeFileSync(resultsFile, JSON.stringify(results, null, 1));
