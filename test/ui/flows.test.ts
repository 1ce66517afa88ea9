// The flow editor from the staff app, in a real browser against a real hub running the real Node-RED: the
// "Flows" link only for installers and admins, opening /flows/ signed out goes through the login page and
// back, the editor loads through the proxy with no Node-RED login and a live WebSocket under the editor's
// own CSP, and the health page's Node-RED card and backups card (contract H: drawn from status.backups,
// nothing when the hub has none).
import type { Browser, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchBrowser,
  PASSWORD,
  screenshot,
  screenshotBoth,
  signIn,
  startUiHub,
  type UiHub,
} from './browser.js';

let ui: UiHub;
let browser: Browser;

/** Node-RED's first start on a loaded 2-core machine can take a while. */
const START_TIMEOUT_MS = 150_000;

beforeAll(async () => {
  ui = await startUiHub({ nodeRed: { enabled: true } });
  browser = await launchBrowser();
  await ui.addStaff('alice', 'admin');
  await ui.addStaff('sam', 'staff');
  await ui.addStaff('ivan', 'installer');
  const until = Date.now() + START_TIMEOUT_MS;
  while ((ui.hub.status().nodeRed as { state: string }).state !== 'running') {
    if (Date.now() > until)
      throw new Error(`Node-RED did not start: ${JSON.stringify(ui.hub.status().nodeRed)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, START_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe('the Flows link', () => {
  it('is shown to installers and admins, opens /flows/ in a new tab, and is not shown to staff', async () => {
    for (const name of ['ivan', 'alice']) {
      const { context, page } = await signIn(browser, ui, name);
      const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flows' });
      expect(await link.getAttribute('href')).toBe('/flows/');
      expect(await link.getAttribute('target')).toBe('_blank');
      const [tab] = await Promise.all([context.waitForEvent('page'), link.click()]);
      await tab.waitForLoadState();
      expect(new URL(tab.url()).pathname).toBe('/flows/');
      await context.close();
    }
    const { context, page } = await signIn(browser, ui, 'sam');
    await page.getByRole('link', { name: 'Events' }).waitFor();
    expect(await page.getByRole('link', { name: 'Flows' }).count()).toBe(0);
    // Typed in by hand, the editor still refuses the staff role.
    const answer = await page.goto('/flows/');
    expect(answer?.status()).toBe(403);
    expect(await page.textContent('body')).toContain('for installers and admins');
    await context.close();
  }, 120_000);
});

describe('the editor through the hub', () => {
  it('loads for an installer with no Node-RED login, its node types, and a connected WebSocket', async () => {
    const { context, page } = await signIn(browser, ui, 'ivan');
    context.setDefaultTimeout(30_000);
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text()))
        problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const frames: string[] = [];
    const comms = new Promise<string>((resolve) =>
      page.on('websocket', (ws) => {
        ws.on('framereceived', (f) => frames.push(String(f.payload)));
        resolve(ws.url());
      }),
    );
    const answer = await page.goto('/flows/');
    expect(answer?.status()).toBe(200);
    expect(new URL(await comms).pathname).toBe('/flows/comms');
    // The palette is filled from node definitions (inline scripts the editor's CSP allows) over the
    // admin API, and the workspace shows: the editor is usable.
    await page.locator('.red-ui-palette-node[data-palette-type="inject"]').first().waitFor();
    await page.locator('#red-ui-workspace').waitFor();
    expect(await page.locator('#red-ui-header').textContent()).toContain('Gatehouse flows');
    // No Node-RED login: the hub's session is the only one.
    expect(await page.locator('input[type="password"]:visible').count()).toBe(0);
    expect(await page.locator('#node-dialog-login:visible').count()).toBe(0);
    // Node-RED speaks on the connection (a heartbeat or a status message comes within its keep-alive).
    await expect.poll(() => frames.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await page.locator('text=Lost connection to server').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(page, 'flows-editor');
    await context.close();
  }, 120_000);
});

describe('opening /flows/ signed out', () => {
  it('goes to the login page and, signed in as an installer, back to the editor', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/flows/');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/flows/');
    await page.getByLabel('Username').fill('ivan');
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/flows/'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    await page.locator('#red-ui-header').waitFor({ timeout: 30_000 });
    await context.close();
  }, 90_000);

  it('ignores a return path outside /flows/ (no open redirect through the login page)', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/login?next=//evil.example/flows/');
    await page.getByLabel('Username').fill('ivan');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    const url = new URL(page.url());
    expect(url.origin).toBe(ui.url);
    expect(url.pathname).toBe('/install');
    await context.close();
  });
});

describe('the health page', () => {
  it('shows Node-RED running with its memory and restarts, and the editor link for an installer', async () => {
    const { context, page } = await signIn(browser, ui, 'ivan');
    await page.getByRole('link', { name: 'Hub' }).click();
    const card = page.getByRole('region', { name: 'Flows (Node-RED)' });
    await expect.poll(() => card.textContent()).toContain('Running');
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('Memory in use');
    expect(text).toMatch(/Memory in use\d+(\.\d)? MB/);
    expect(text).toContain('Restarts since the hub started0');
    expect(await card.getByRole('link', { name: 'Open the flow editor' }).getAttribute('href')).toBe(
      '/flows/',
    );
    await screenshotBoth(page, 'health-node-red');
    await context.close();
    // Staff see the card (Node-RED's state is the hub's health) but no link into the editor.
    const staff = await signIn(browser, ui, 'sam');
    await staff.page.getByRole('link', { name: 'Hub' }).click();
    const staffCard = staff.page.getByRole('region', { name: 'Flows (Node-RED)' });
    await expect.poll(() => staffCard.textContent()).toContain('Running');
    expect(await staffCard.getByRole('link').count()).toBe(0);
    await staff.context.close();
  }, 90_000);

  it('draws the backups card from status.backups: off on this hub, then overdue', async () => {
    const { context, page } = await signIn(browser, ui, 'alice');
    await page.getByRole('link', { name: 'Hub' }).click();
    await page.getByRole('heading', { name: 'Hub health' }).waitFor();
    await page.getByRole('region', { name: 'This hub' }).waitFor();
    // This hub's backups are off (the schema's default; the appliance installer turns them on).
    await expect
      .poll(() => page.getByRole('region', { name: 'Backups' }).textContent())
      .toContain('makes no scheduled backups');

    // An overdue schedule with a failed copy, as the real backups part reports it, replaces the real one.
    const now = Date.now();
    const backups = {
      enabled: true,
      dir: '/var/lib/gatehouse/backups',
      copyTo: '/mnt/usb/gatehouse',
      everyHours: 24,
      keep: 14,
      lastSuccess: { at: now - 30 * 3_600_000, file: 'gatehouse-1.tar', bytes: 3_500_000 },
      lastFailure: {
        at: now - 2 * 3_600_000,
        error: 'EROFS: read-only file system, open /mnt/usb/gatehouse/x',
      },
      nextAt: now + 3_600_000,
      overdue: true,
    };
    await page.route('**/api/v1/status', async (route: Route) => {
      const real = await route.fetch();
      await route.fulfill({ response: real, json: { ...(await real.json()), backups } });
    });
    await page.getByRole('button', { name: 'Refresh' }).click();
    const card = page.getByRole('region', { name: 'Backups' });
    await expect.poll(() => card.textContent()).toContain('Needs attention');
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('The last backup is too old');
    expect(text).toContain('Last backup1 day ago');
    expect(text).toContain('every 24 h, the last 14 kept');
    expect(text).toContain('/mnt/usb/gatehouse');
    expect(text).toContain('The last attempt failed 2 h ago');
    await screenshotBoth(page, 'health-backups');
    await context.close();
  });
});
