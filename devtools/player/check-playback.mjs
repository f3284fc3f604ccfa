#!/usr/bin/env node
// Opens a stream-emulator watch page (http://HOST:PORT/{uid}/watch), or a mux-emulator one
// (http://HOST:PORT/{PLAYBACK_ID}/watch), in headless Chromium and waits
// until its <video> really plays: currentTime > 0.5 s and readyState >= 2 (HAVE_CURRENT_DATA).
//
//   node devtools/player/check-playback.mjs URL [--screenshot out.png] [--timeout-ms 20000]
//
// Prints one JSON line. Exit 0 = playing; 1 = not playing (the line says why: page errors,
// console errors, failed requests); 2 = bad usage or no browser.
// The browser is Debian's `chromium` (apt-get install chromium), driven by playwright-core; set
// CHROMIUM_PATH to use another binary. Playwright's own browser downloads are not used.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const usage = "usage: node check-playback.mjs URL [--screenshot PATH] [--timeout-ms N]";
const started = Date.now();

function parseArgs(argv) {
  const options = { url: null, screenshot: null, timeoutMs: 20000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (name === "--screenshot") options.screenshot = value();
    else if (name === "--timeout-ms") options.timeoutMs = Number(value());
    else if (name === "-h" || name === "--help") exit(0, { usage });
    else if (!name.startsWith("--") && options.url === null) options.url = name;
    else exit(2, { ok: false, error: `unexpected argument ${arg}`, usage });
  }
  if (!options.url || !/^https?:\/\//.test(options.url)) exit(2, { ok: false, error: "URL (http or https) required", usage });
  if (!(options.timeoutMs > 0)) exit(2, { ok: false, error: "--timeout-ms must be a positive number", usage });
  if (options.screenshot === undefined) exit(2, { ok: false, error: "--screenshot needs a path", usage });
  return options;
}

function exit(code, result) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(code);
}

const options = parseArgs(process.argv.slice(2));
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  exit(2, { ok: false, error: `no browser at ${executablePath}: run \`apt-get install -y chromium\` (as root) or set CHROMIUM_PATH` });
}
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (error) {
  exit(2, { ok: false, error: `playwright-core is not installed (${error.code || error.message}): run \`npm ci --prefix devtools/player\`` });
}

const problems = { consoleErrors: [], pageErrors: [], failedRequests: [], httpErrors: [] };
const profile = mkdtempSync(join(tmpdir(), "check-playback-"));
let browser;
let context;
let exitCode = 1;
let result;
try {
  // A persistent context gives the browser its own new, empty --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
    viewport: { width: 960, height: 600 },
  });
  browser = context.browser();
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") problems.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => problems.pageErrors.push(String(error && error.message ? error.message : error)));
  page.on("requestfailed", (request) =>
    problems.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.httpErrors.push(`${response.status()} ${response.url()}`);
  });

  const deadline = started + options.timeoutMs;
  const response = await page.goto(options.url, { waitUntil: "domcontentloaded", timeout: options.timeoutMs });
  if (!response || !response.ok()) {
    const body = response ? (await response.text()).trim().slice(0, 300) : "";
    throw new Error(`the page answered HTTP ${response ? response.status() : "nothing"}${body ? ": " + body : ""}`);
  }
  const readState = () =>
    page.evaluate(() => {
      const video = document.querySelector("video");
      const playback = window.playback || {};
      return video
        ? {
            currentTime: video.currentTime,
            readyState: video.readyState,
            paused: video.paused,
            duration: video.duration,
            width: video.videoWidth,
            height: video.videoHeight,
            engine: playback.engine || null,
            pageErrors: playback.errors || [],
            status: document.getElementById("status")?.textContent || null,
            notice: document.getElementById("missing")?.textContent || null,
          }
        : null;
    });
  let state = await readState();
  while (!(state && state.currentTime > 0.5 && state.readyState >= 2) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    state = await readState();
  }
  const playing = Boolean(state && state.currentTime > 0.5 && state.readyState >= 2);
  if (options.screenshot) await page.screenshot({ path: options.screenshot });
  result = {
    ok: playing,
    url: options.url,
    ...(state || { error: "the page has no <video> element" }),
    elapsedMs: Date.now() - started,
    browser: browser ? `chromium ${browser.version()}` : "chromium",
  };
  if (!playing) {
    result.error = state
      ? `the video did not play within ${options.timeoutMs} ms`
      : "the page has no <video> element";
  }
  exitCode = playing ? 0 : 1;
} catch (error) {
  result = { ok: false, url: options.url, error: String(error && error.message ? error.message : error), elapsedMs: Date.now() - started };
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
if (exitCode !== 0) {
  for (const [name, list] of Object.entries(problems)) if (list.length) result[name] = list.slice(0, 10);
}
exit(exitCode, result);
