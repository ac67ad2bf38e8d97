// Debian's chromium driven by playwright-core, for the report tests and the README screenshots:
// headless, no sandbox (root), no background traffic of its own, a fresh profile every time, and
// every request the page makes recorded.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.OSAM_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface Browser {
  context: BrowserContext;
  /** Opens a page file; returns the page, every URL it requested and the load time in ms. */
  open(file: string, o?: { width?: number; height?: number }): Promise<{ page: Page; requests: string[]; loadMs: number }>;
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "osam-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, javaScriptEnabled: false });
  return {
    context,
    async open(file, o = {}) {
      const page = await context.newPage();
      await page.setViewportSize({ width: o.width ?? 1280, height: o.height ?? 900 });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      const t0 = performance.now();
      await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
      const loadMs = performance.now() - t0;
      return { page, requests, loadMs };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
