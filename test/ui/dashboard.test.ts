// Scenario 3 on the dashboard, in a real browser against a real hub with a simulated door: a card at the
// door appears without a reload, the door's state moves live, a forced open raises an alarm on the tile
// and the banner, and the building-wide lockdown asks for a reason.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  launchBrowser,
  resetFrontDoor,
  screenshotBoth,
  seedFrontDoor,
  signIn,
  startUiHub,
  type UiHub,
} from './browser.js';

let ui: UiHub;
let browser: Browser;
const sim = () => ui.hub.simDoors.get('sim-front')!;

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
  await seedFrontDoor(ui);
});

beforeEach(() => resetFrontDoor(ui));

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

/** A POST the way the hub's own pages send it (the hub refuses cookie requests from other origins). */
function postAsPage(page: Page, path: string, data: unknown) {
  return page.request.post(path, { data, headers: { origin: ui.url } });
}

const tile = (page: Page) => page.getByRole('list', { name: 'Doors' }).getByRole('listitem').first();

describe('dashboard', () => {
  it('shows every door with live state, and a card at the door appears without a reload', async () => {
    const { context, page } = await signIn(browser, ui, 'sam');
    await expect.poll(() => tile(page).textContent()).toContain('Simulated front door');
    await expect.poll(() => tile(page).textContent()).toMatch(/Locked.*Closed.*Online/);
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 1; // gone if the page reloads
    });

    const answer = await postAsPage(page, '/api/v1/sim/doors/sim-front/card', { value: '04A22B1C' });
    expect((await answer.json()).decision).toEqual({ granted: true, reason: 'granted' });
    const activity = page.getByRole('list', { name: 'Recent activity' });
    await expect.poll(() => activity.textContent()).toContain('Access granted (card)');
    await expect.poll(() => activity.textContent()).toContain('Ada Lovelace'); // the name is looked up
    await expect.poll(() => tile(page).textContent()).toContain('Unlocked');

    sim().open();
    await expect.poll(() => tile(page).textContent()).toContain('Open');
    sim().close();
    await expect.poll(() => tile(page).textContent()).toMatch(/Locked.*Closed/);
    await expect.poll(() => activity.textContent()).toContain('Door closed');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);
    await context.close();
  });

  it('raises a forced-open alarm on the tile and the banner', async () => {
    const { context, page } = await signIn(browser, ui, 'sam');
    context.setDefaultTimeout(10_000);
    await expect.poll(() => tile(page).textContent()).toContain('Locked');
    sim().open(); // nobody unlocked it
    const banner = page.getByRole('region', { name: /alarm needs attention/ });
    await expect.poll(() => banner.textContent()).toContain('Forced open');
    await expect.poll(() => tile(page).textContent()).toContain('Forced open');
    await screenshotBoth(page, 'dashboard-alarm');
    sim().close();
    await expect.poll(() => tile(page).textContent()).toContain('Closed');
    // Ended but not yet acknowledged: it stays in the banner until someone has looked at it.
    await expect.poll(() => banner.textContent()).toContain('ended');

    await banner.getByRole('button', { name: /^Acknowledge/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Acknowledge the alarm' });
    await dialog.getByLabel('Note (optional)').fill('Checked: delivery propped it open');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => banner.count()).toBe(0);
    await expect.poll(() => tile(page).textContent()).not.toContain('Forced open');
    const activity = page.getByRole('list', { name: 'Recent activity' });
    await expect.poll(() => activity.textContent()).toContain('Alarm acknowledged: Forced open');
    await expect.poll(() => activity.textContent()).toContain('sam');
    const ack = ui.hub.store.events.list({ type: 'admin.alarm.acknowledged' })[0];
    expect(ack?.data).toMatchObject({ actor: 'user:sam', note: 'Checked: delivery propped it open' });
    await context.close();
  });

  it('locks every door down with a reason and sets them back to normal', async () => {
    const { context, page } = await signIn(browser, ui, 'sam');
    await page.getByRole('button', { name: 'Lockdown all' }).click();
    const dialog = page.getByRole('dialog', { name: 'Lock down every door' });
    await dialog.getByLabel('Reason').fill('Police request');
    await dialog.getByRole('button', { name: 'Lockdown all' }).click();
    await expect.poll(() => tile(page).textContent()).toContain('Lockdown — nobody gets in');
    const event = ui.hub.store.events.list({ type: 'admin.door.mode_changed' }).at(-1);
    expect(event?.data).toMatchObject({ actor: 'user:sam', to: 'lockdown', reason: 'Police request' });
    await screenshotBoth(page, 'dashboard-lockdown');

    await page.getByRole('button', { name: 'Back to normal' }).click();
    const back = page.getByRole('dialog', { name: 'Set every door back to normal' });
    await back.getByLabel('Reason').fill('All clear');
    await back.getByRole('button', { name: 'Back to normal' }).click();
    await expect.poll(() => tile(page).textContent()).not.toContain('Lockdown');
    expect(ui.hub.store.doors.get('sim-front')?.mode).toBe('normal');
    await screenshotBoth(page, 'dashboard');
    await context.close();
  });

  it('sends an installer to installation instead of the dashboard, and the API refuses a lockdown', async () => {
    const { context, page } = await signIn(browser, ui, 'ivan');
    await page.goto('/');
    await expect.poll(() => new URL(page.url()).pathname).toBe('/install');
    expect(await page.getByRole('button', { name: 'Lockdown all' }).count()).toBe(0);
    const refused = await page.request.put('/api/v1/doors/mode', {
      data: { mode: 'lockdown' },
      headers: { origin: ui.url },
    });
    expect(refused.status()).toBe(403);
    await context.close();
  });
});
