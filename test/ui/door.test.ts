// Scenario 3 on one door's page, in a real browser against a real hub with a simulated door: events
// stream in with their actor, unlock once with a reason, the modes with the hub's refusals in its own
// words (lockdown refuses an unlock; deny wins from lockdown to kept unlocked), alarms acknowledged,
// and an installer who sees no controls and whom the API refuses.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALL_COMMANDS } from '../../hub/commands/index.js';
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
const HAS_ALARMS = ALL_COMMANDS.some((c) => c.name === 'alarm.ack');
const SLOW = { timeout: 15_000 };

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

async function openDoor(username: string) {
  const signed = await signIn(browser, ui, username);
  signed.context.setDefaultTimeout(10_000);
  await signed.page.goto('/doors/sim-front');
  await signed.page.getByRole('heading', { name: 'Simulated front door' }).waitFor();
  return signed;
}

const state = (page: Page) => page.getByRole('region', { name: 'Live state' });
const events = (page: Page) => page.getByRole('list', { name: 'Last events at this door' });

async function chooseMode(page: Page, option: RegExp, reason: string) {
  await page.getByRole('button', { name: option }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByRole('button', { name: option }).click();
  return dialog;
}

describe('door page', () => {
  it('streams in a card presented at the door, with the person, without a reload', async () => {
    const { context, page } = await openDoor('sam');
    await expect.poll(() => state(page).textContent()).toMatch(/Locked.*Door is closed.*Online/);
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 1;
    });
    await page.request.post('/api/v1/sim/doors/sim-front/card', {
      data: { value: '04A22B1C' },
      headers: { origin: ui.url },
    });
    await expect.poll(() => events(page).textContent()).toContain('Access granted (card)');
    await expect.poll(() => events(page).textContent()).toContain('Ada Lovelace');
    await expect.poll(() => state(page).textContent()).toContain('Unlocked');
    sim().open();
    await expect.poll(() => state(page).textContent()).toContain('Door is open');
    sim().close();
    await expect.poll(() => state(page).textContent()).toMatch(/Locked.*Door is closed/);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);
    await context.close();
  });

  it('unlocks once with a reason: unlocked, then locked again; the log names who', async () => {
    const { context, page } = await openDoor('sam');
    await page.getByRole('button', { name: 'Unlock once' }).click();
    const dialog = page.getByRole('dialog', { name: 'Unlock the door once' });
    await dialog.getByLabel('Reason').fill('Resident of flat 12 without phone');
    await dialog.getByRole('button', { name: 'Unlock once' }).click();
    await expect.poll(() => state(page).textContent()).toContain('Unlocked');
    expect(sim().isUnlocked()).toBe(true);
    await expect.poll(() => events(page).textContent()).toContain('Unlocked remotely for 5 s');
    const text = await events(page).textContent();
    expect(text).toContain('sam');
    expect(text).toContain('Reason: Resident of flat 12 without phone');
    await expect.poll(() => state(page).textContent(), SLOW).not.toContain('Unlocked');
    await expect.poll(() => state(page).textContent()).toContain('Locked');
    await screenshotBoth(page, 'door');
    await context.close();
  });

  it('in lockdown refuses an unlock and a jump to kept unlocked, in the hub’s words', async () => {
    const { context, page } = await openDoor('sam');
    await chooseMode(page, /^Lockdown/, 'Intruder reported');
    await expect.poll(() => state(page).textContent()).toContain('Lockdown — nobody gets in');
    expect(await page.getByRole('button', { name: /^Lockdown/ }).getAttribute('aria-pressed')).toBe('true');

    await page.getByRole('button', { name: 'Unlock once' }).click();
    const unlock = page.getByRole('dialog', { name: 'Unlock the door once' });
    await unlock.getByLabel('Reason').fill('Courier');
    await unlock.getByRole('button', { name: 'Unlock once' }).click();
    await expect
      .poll(() => unlock.getByRole('alert').textContent())
      .toContain("door 'sim-front' is in lockdown: remote unlock refused (set the door to normal first)");
    expect(await unlock.getByLabel('Reason').inputValue()).toBe('Courier'); // what was typed stays
    expect(sim().isUnlocked()).toBe(false);
    await screenshotBoth(page, 'door-refused');
    await unlock.getByRole('button', { name: 'Cancel' }).click();

    const jump = await chooseMode(page, /^Keep unlocked/, 'Party');
    await expect.poll(() => jump.getByRole('alert').textContent()).toContain('deny wins');
    await jump.getByRole('button', { name: 'Cancel' }).click();
    expect(ui.hub.store.doors.get('sim-front')?.mode).toBe('lockdown');

    await chooseMode(page, /^Normal/, 'All clear');
    await expect.poll(() => state(page).textContent()).not.toContain('Lockdown');
    await chooseMode(page, /^Keep unlocked/, 'Open day');
    await expect.poll(() => state(page).textContent()).toContain('Kept unlocked');
    await expect.poll(() => state(page).textContent()).toContain('Unlocked');
    expect(sim().isUnlocked()).toBe(true);
    await chooseMode(page, /^Normal/, 'Open day over');
    await expect.poll(() => state(page).textContent()).not.toContain('Unlocked');
    await expect.poll(() => state(page).textContent()).toContain('Locked');
    const modes = ui.hub.store.events
      .list({ type: 'admin.door.mode_changed' })
      .map((e) => e.data)
      .reverse(); // newest first
    expect(modes.map((d) => [d.to, d.actor, d.reason])).toEqual([
      ['lockdown', 'user:sam', 'Intruder reported'],
      ['normal', 'user:sam', 'All clear'],
      ['unlocked', 'user:sam', 'Open day'],
      ['normal', 'user:sam', 'Open day over'],
    ]);
    await context.close();
  });

  it.runIf(HAS_ALARMS)('shows a forced open and acknowledges it with a note; the log shows who', async () => {
    const { context, page } = await openDoor('sam');
    sim().open();
    const alarms = page.getByRole('list').filter({ hasText: 'Forced open' }).first();
    await expect.poll(() => alarms.textContent()).toContain('active');
    sim().close();
    await page
      .getByRole('button', { name: /^Acknowledge/ })
      .first()
      .click();
    const dialog = page.getByRole('dialog', { name: 'Acknowledge the alarm' });
    await dialog.getByLabel('Note (optional)').fill('Wind blew it open');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => page.getByText(/Acknowledged by sam/).count()).toBeGreaterThan(0);
    await expect.poll(() => events(page).textContent()).toContain('Alarm acknowledged: Forced open');
    expect(await page.getByText('Note: Wind blew it open').count()).toBe(1);
    await screenshotBoth(page, 'door-alarm-acknowledged');
    await context.close();
  });

  it('shows an installer the state but no unlock or mode buttons, and the API refuses the unlock', async () => {
    const { context, page } = await openDoor('ivan');
    await expect.poll(() => state(page).textContent()).toContain('Locked');
    expect(await page.getByRole('button', { name: 'Unlock once' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Lockdown/ }).count()).toBe(0);
    const refused = await page.request.post('/api/v1/doors/sim-front/unlock', {
      data: { reason: 'test' },
      headers: { origin: ui.url },
    });
    expect(refused.status()).toBe(403);
    expect(sim().isUnlocked()).toBe(false);
    await context.close();
  });
});
