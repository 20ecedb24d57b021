/**
 * Debian's headless Chromium through playwright-core, for the tests that look at a page as a person
 * would. One launch recipe, so every page test runs the browser the same way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A headless browser on a fresh profile directory (removed after the test); close it when done. */
export async function launchChromium(t: TestContext): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const profileDir = mkdtempSync(join(tmpdir(), 'growline-chromium-'));
  t.after(() => rmSync(profileDir, { recursive: true, force: true }));
  // playwright's persistent context passes the directory as --user-data-dir.
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Collects the page's console errors, uncaught exceptions and failed requests as they happen. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()}`));
  return errors;
}
