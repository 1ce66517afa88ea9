// Scenario 1 in a real browser, at phone size, with the internet down: a resident stands in the lobby,
// phone dead or stolen. Staff find them by unit, see every door's answer, give a daily doorcode that the
// front door's keypad accepts, log out every phone, revoke the lost card (denied at the very next
// presentation), and add a new card by typing it and by presenting it at the front door.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Phone } from '../../hub/mobile/phone.js';
import {
  DESKTOP,
  launchBrowser,
  PHONE,
  SCREENSHOTS,
  screenshotBoth,
  signIn,
  startUiHub,
  type UiHub,
} from './browser.js';
import { seedBuilding, seedResident } from './seed.js';

let ui: UiHub;
let browser: Browser;
let page: Page;
const LOST_CARD = '04A22B1C';
/** Generous: seven helpers share two cores. */
const SOON = { timeout: 20_000, interval: 200 };
/** Shorter than the page's 20 s capture wait: only a capture the hub really dropped lets a card past. */
const BEFORE_A_PAGE_CAPTURE_TIMES_OUT = { timeout: 12_000, interval: 200 };

beforeAll(async () => {
  // A hub with a battery-backed clock: with the internet down it still trusts its time, so the doors
  // accept timed doorcodes (docs/trusted-time.md).
  ui = await startUiHub({ offline: { clock: { rtc: true } } });
  browser = await launchBrowser();
  await ui.addStaff('sam', 'staff');
  await seedBuilding(ui);
  await seedResident(ui, 'maria-lopez', 'Maria Lopez', LOST_CARD);
  ({ page } = await signIn(browser, ui, 'sam', PHONE));
  // Her phone key, issued the way the API issues one (the phone's public key, the doors).
  const issued = await page.request.post('/api/v1/mobile/keys', {
    headers: { origin: ui.url },
    data: {
      person: 'maria-lopez',
      phonePublicKey: Phone.generate().publicKey,
      doors: ['sim-front'],
      label: 'Maria’s iPhone',
    },
  });
  expect(issued.status(), await issued.text()).toBe(201);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

async function atFrontDoor(kind: 'card' | 'code', value: string) {
  const answer = await page.request.post(`/api/v1/sim/doors/sim-front/${kind}`, {
    headers: { origin: ui.url }, // what a page of the hub's own sends with a state change
    data: { value },
  });
  expect(answer.status()).toBe(200);
  return (await answer.json()).decision as { granted: boolean; reason: string };
}

async function person() {
  return (await (await page.request.get('/api/v1/people/maria-lopez')).json()) as {
    person: { keyEpoch: number };
    credentials: Array<{ label: string; revokedAt: number | null }>;
    mobileKeys: Array<{ state: string }>;
  };
}

const answerAt = (doorId: string) => page.locator(`.door-answer[data-door="${doorId}"]`);
const notice = () => page.locator('.person-page > .notice-ok');

describe('a resident locked out in the lobby', () => {
  it('finds the resident by unit, results as you type', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'People' }).click();
    const search = page.getByLabel('Find a person');
    await search.fill('4b');
    const results = page.getByRole('list', { name: 'People' }).getByRole('link');
    await expect.poll(() => results.allTextContents(), SOON).toHaveLength(2);
    expect((await results.allTextContents()).join(' ')).toContain('Maria Lopez');
    expect((await results.allTextContents()).join(' ')).toContain('Unit 4B');
    await screenshotBoth(page, 'people-search');
    await search.fill('');
    await expect.poll(() => results.count(), SOON).toBeGreaterThan(4);
    await expect
      .poll(() => page.locator('.person-row', { hasText: 'Lena Okafor' }).textContent(), SOON)
      .toContain('Suspended');
    await screenshotBoth(page, 'people');
    await search.fill('maria');
    await expect.poll(() => results.allTextContents(), SOON).toHaveLength(1);
    await results.first().click();
    await page.getByRole('heading', { name: 'Maria Lopez', level: 1 }).waitFor();
  });

  it('shows what every door answers her right now, and why', async () => {
    await expect.poll(() => answerAt('sim-front').textContent(), SOON).toContain('Opens');
    await expect.poll(() => answerAt('garage').textContent(), SOON).toContain('Refused');
    expect(await page.getByText('Maria’s iPhone').count()).toBeGreaterThan(0);
    expect(await page.getByText(`card …${LOST_CARD.slice(-4)}`).count()).toBeGreaterThan(0);
  });

  it('gives a daily doorcode in large digits that the front door keypad accepts', async () => {
    await page.getByRole('button', { name: /Give a doorcode/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Give a doorcode' });
    expect(await dialog.getByLabel('For today').isChecked()).toBe(true);
    expect(await dialog.getByLabel('Doors').inputValue()).toBe('group:residents'); // her usual doors
    await dialog.getByRole('button', { name: 'Make the code' }).click();
    const big = dialog.locator('.big-code');
    await big.waitFor();
    const shown = (await big.textContent())!.replace(/\s/g, '');
    expect(shown).toMatch(/^[0-9]{6,12}$/);
    expect(await dialog.textContent()).toContain('Opens: Residents');
    expect(await dialog.textContent()).toMatch(/Valid until/);
    await screenshotBoth(page, 'person-code');
    expect(await atFrontDoor('code', shown)).toMatchObject({ granted: true });
    await dialog.getByRole('button', { name: 'Done' }).click();
    // The code is listed with her credentials.
    await expect.poll(() => page.locator('.cred-code').count(), SOON).toBe(1);
  });

  it('logs out every phone at once: her key epoch goes up and the key reads revoked', async () => {
    const before = (await person()).person.keyEpoch;
    await page.getByRole('button', { name: /Log out everywhere/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Log out everywhere?' });
    await expect.poll(() => dialog.textContent()).toContain('1 active phone key will stop');
    await dialog.getByRole('button', { name: 'Log out every phone' }).click();
    await expect.poll(() => notice().textContent(), SOON).toContain('Every phone key is stopped');
    const after = await person();
    expect(after.person.keyEpoch).toBe(before + 1);
    expect(after.mobileKeys.map((k) => k.state)).toEqual(['revoked']);
  });

  it('revokes the lost card: the very next presentation at the front door is denied', async () => {
    expect(await atFrontDoor('card', LOST_CARD)).toMatchObject({ granted: true });
    await page.getByRole('button', { name: /Revoke a lost card/ }).click();
    const dialog = page.getByRole('dialog', { name: /Revoke card/ });
    await dialog.getByLabel('Reason (optional)').fill('lost in the street');
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await expect.poll(() => notice().textContent(), SOON).toContain('is revoked');
    expect(await atFrontDoor('card', LOST_CARD)).toMatchObject({ granted: false, reason: 'revoked' });
    expect((await person()).credentials.every((c) => c.revokedAt !== null)).toBe(true);
  });

  it('keeps a refused card number and says why next to it, then adds the typed card', async () => {
    await page.getByRole('button', { name: /Add a card/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a card' });
    const number = dialog.getByLabel('Card number');
    await number.fill('not a card');
    await dialog.getByRole('button', { name: 'Save card' }).click();
    await expect.poll(() => number.getAttribute('aria-invalid'), SOON).toBe('true');
    expect(await dialog.locator('.field-error').textContent()).toMatch(/hex digits/);
    expect(await number.inputValue()).toBe('not a card');
    await number.fill('04:B7:11:22');
    await dialog.getByRole('button', { name: 'Save card' }).click();
    await expect.poll(() => notice().textContent(), SOON).toContain('added');
    expect(await atFrontDoor('card', '04B71122')).toMatchObject({ granted: true });
  });

  it('adds a card presented at the front door while the page waits for it', async () => {
    await page.getByRole('button', { name: /Add a card/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a card' });
    expect(await dialog.getByLabel('Reader').inputValue()).toBe('sim-front');
    await dialog.getByRole('button', { name: 'Present at a reader' }).click();
    await dialog.getByText('Waiting for a card at Simulated front door…').waitFor();
    // Cancel stops waiting, at the hub too: the page's request is aborted and the hub drops its capture.
    // A card goes to the oldest capture waiting at the door, so another capture started now gets the next
    // card only if the page's is really gone; and that card is not read into the form.
    await dialog.getByRole('button', { name: 'Cancel' }).first().click();
    await expect.poll(() => dialog.getByText(/Waiting for a card/).count(), SOON).toBe(0);
    await expect
      .poll(async () => {
        const capture = page.request.post('/api/v1/doors/sim-front/capture-card', {
          headers: { origin: ui.url },
          data: { timeoutS: 5 },
        });
        await page.waitForTimeout(500);
        await atFrontDoor('card', 'CAFE0041');
        return (await (await capture).json()).card ?? 'not captured';
      }, BEFORE_A_PAGE_CAPTURE_TIMES_OUT)
      .toBe('CAFE0041');
    expect(await dialog.getByLabel('Card number').inputValue()).toBe('');
    // Waiting again works.
    await dialog.getByRole('button', { name: 'Present at a reader' }).click();
    await dialog.getByText(/Waiting for a card/).waitFor();
    await screenshotBoth(page, 'person-card-capture');
    // The resident holds the new card to the front door's reader (unknown yet: refused, and captured).
    await expect
      .poll(async () => {
        await atFrontDoor('card', 'CAFE0042');
        return dialog.getByLabel('Card number').inputValue();
      })
      .toBe('CAFE0042');
    await dialog.getByText('Card read at Simulated front door.').waitFor();
    await dialog.getByRole('button', { name: 'Save card' }).click();
    await expect.poll(() => notice().textContent(), SOON).toContain('added');
    expect(await atFrontDoor('card', 'CAFE0042')).toMatchObject({ granted: true });
  });

  it('shows all of it on her page and in her recent activity', async () => {
    await expect.poll(() => page.locator('.timeline').textContent(), SOON).toContain('Logged out everywhere');
    const timeline = await page.locator('.timeline').textContent();
    expect(timeline).toContain('Credential revoked: lost in the street');
    expect(timeline).toContain('Refused at Simulated front door: revoked');
    expect(timeline).toContain('Doorcode issued');
    await screenshotBoth(page, 'person');
    // What a phone and a desktop show first (the staff guide's pictures: docs/images/resident-*.png).
    await page.evaluate('window.scrollTo(0, 0)');
    for (const [size, name] of [
      [PHONE, 'resident-phone'],
      [DESKTOP, 'resident-desktop'],
    ] as const) {
      await page.setViewportSize(size);
      await page.waitForTimeout(150);
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
    }
  });
});
