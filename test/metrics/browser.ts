// Debian's headless Chromium, driven by playwright-core, run inside a lab namespace: the browser
// can reach only what listens in that namespace, so whatever it tries on its own never leaves
// the machine. A fresh profile per launch; console errors, page errors and failed requests are
// collected for the test to assert on.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoPath } from '../support/repo.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Quiet and offline: no first-run, sync, component updates, QUIC or background fetches. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface WatchedPage {
  readonly page: Page;
  /** Console errors, uncaught page errors and failed requests, as text. */
  readonly problems: string[];
}

export interface NsBrowser {
  open(url: string, viewport?: { width: number; height: number }): Promise<WatchedPage>;
  close(): Promise<void>;
}

/** Launches Chromium in namespace `ns` (an `ip netns` name) with a profile of its own. */
export async function launchInNetns(ns: string): Promise<NsBrowser> {
  if (!/^[A-Za-z0-9_.-]+$/.test(ns)) throw new Error(`unexpected namespace name ${JSON.stringify(ns)}`);
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-chromium-'));
  // playwright starts the executable with its own arguments; this one enters the namespace first.
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: wrapper, args: CHROMIUM_ARGS, headless: true, timeout: 60_000,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    async open(url, viewport = { width: 1280, height: 900 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      const problems: string[] = [];
      page.on('console', (msg) => {
        if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
      });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
      await page.goto(url, { waitUntil: 'load' });
      return { page, problems };
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot (the full page unless told) under test-artifacts/ (ignored by git) and prints where. */
export async function saveScreenshot(page: Page, name: string, fullPage = true): Promise<string> {
  const dir = repoPath('test-artifacts');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage });
  console.log(`# screenshot: ${path}`);
  return path;
}
