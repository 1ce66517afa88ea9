// UI test harness: a real hub (simulated doors, cloud link down) serving the built UI, and Debian's
// Chromium driven by playwright-core (never a downloaded browser). Screenshots go to test-output/.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { Hub } from '../../hub/app.js';
import { ROOT, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test-output/screenshots');
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };
export const PASSWORD = 'correct horse battery staple';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export interface UiHub {
  hub: Hub;
  dataDir: string;
  /** The hub's plain-HTTP listener on 127.0.0.1, e.g. http://127.0.0.1:40123 */
  url: string;
  /** Adds a staff account (password PASSWORD) as an admin at the CLI would. */
  addStaff(username: string, role: 'admin' | 'staff' | 'installer'): Promise<void>;
  close(): Promise<void>;
}

/**
 * A hub with the given simulated doors (`sim-front` by default) and a cloud link that cannot connect:
 * every scenario runs as it would during an internet outage.
 */
export async function startUiHub(extra: Record<string, unknown> = {}): Promise<UiHub> {
  const dataDir = tempDataDir();
  const hub = await startHub(dataDir, {
    simulation: { door: 'sim-front' },
    cloud: {
      enabled: true,
      address: '127.0.0.1:9', // discard port: nothing answers, the link stays down
      hubId: 'hub-ui-test',
      token: 'ui-test-token-not-a-secret',
      insecurePlaintext: true,
    },
    ...extra,
  });
  const port = hub.addresses().http.http;
  return {
    hub,
    dataDir,
    url: `http://127.0.0.1:${port}`,
    addStaff: async (username, role) => {
      await hub.commands.execute(
        'user.add',
        { username, password: PASSWORD, role },
        { actor: 'cli:test', role: 'admin' },
      );
    },
    close: async () => {
      await hub.stop();
      removeDir(dataDir);
    },
  };
}

const ADMIN = { actor: 'cli:test', role: 'admin' } as const;

/**
 * The door scenarios' building: staff `sam`, installer `ivan`, and Ada Lovelace (card 04A22B1C) in the
 * residents group that opens `sim-front`.
 */
export async function seedFrontDoor(ui: UiHub): Promise<void> {
  const run = (name: string, input: unknown) => ui.hub.commands.execute(name, input, ADMIN);
  await ui.addStaff('sam', 'staff');
  await ui.addStaff('ivan', 'installer');
  await run('person.add', { id: 'ada', name: 'Ada Lovelace', kind: 'resident' });
  await run('credential.add_card', { personId: 'ada', card: '04A22B1C' });
  await run('group.add', { id: 'residents', name: 'Residents' });
  await run('group.add_door', { id: 'residents', doorId: 'sim-front' });
  await run('group.add_member', { id: 'residents', personId: 'ada' });
}

/**
 * Puts the shared simulated door back (normal mode, closed, locked) so that a test that failed half-way
 * (door left in lockdown, open or unlocked) cannot make the next one fail too. Changes nothing, and logs
 * nothing, when the door is already as it should be.
 */
export async function resetFrontDoor(ui: UiHub): Promise<void> {
  if (ui.hub.store.doors.get('sim-front')?.mode !== 'normal') {
    await ui.hub.commands.execute(
      'door.set_mode',
      { id: 'sim-front', mode: 'normal', reason: 'test reset' },
      ADMIN,
    );
  }
  const sim = ui.hub.simDoors.get('sim-front');
  if (!sim) return;
  if (sim.isOpen()) sim.close();
  // A timed unlock (unlock once, a granted card) ends by itself within seconds.
  const until = Date.now() + 15_000;
  while (sim.isUnlocked() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

/** A fresh browser context (own cookies) at the given size, signed in through the login page. */
export async function signIn(
  browser: Browser,
  ui: UiHub,
  username: string,
  viewport: { width: number; height: number } = DESKTOP,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, baseURL: ui.url });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return { context, page };
}

/** Saves `<name>-<width>x<height>.png` under test-output/screenshots (looked at by people, not diffed). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const size = page.viewportSize();
  const file = path.join(SCREENSHOTS, `${name}-${size?.width ?? 0}x${size?.height ?? 0}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Screenshots of the current page at phone and desktop size. */
export async function screenshotBoth(page: Page, name: string): Promise<void> {
  const before = page.viewportSize();
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(100);
    await screenshot(page, name);
  }
  if (before) await page.setViewportSize(before);
}
