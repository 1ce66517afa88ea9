// Scenario 8, first run, in a real browser: a hub with no staff user prints a setup link; opening it
// creates the first admin (no default password exists) and lands signed in. A wrong token, a short
// password and a second setup are refused in words, next to the right field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, PASSWORD, screenshotBoth, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

const tokenOf = (dataDir: string) => readFileSync(path.join(dataDir, 'setup-token'), 'utf8').trim();

describe('first-run setup', () => {
  it('refuses a wrong token and says where the right one is', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/setup#not-the-token');
    // The token leaves the address bar as soon as it is read.
    await expect.poll(() => new URL(page.url()).hash).toBe('');
    await page.getByLabel('Administrator username').fill('alice');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await expect
      .poll(() => page.getByRole('alert').allTextContents())
      .toContainEqual(expect.stringContaining('expired or wrong'));
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('setup-token');
    await context.close();
  });

  it('keeps what was typed when the passwords differ or the password is too short', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto(`/setup#${tokenOf(ui.dataDir)}`);
    await page.getByLabel('Administrator username').fill('alice');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Password again').fill('something else');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await expect
      .poll(() => page.getByRole('alert').allTextContents())
      .toContainEqual('The two passwords are not the same.');
    // The hub's own rule (400), shown next to the password field.
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Password again').fill('short');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    const password = page.getByLabel('Password', { exact: true });
    await expect.poll(() => password.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.field-invalid .field-error').textContent()).toMatch(/at least 10 characters/);
    expect(await page.getByLabel('Administrator username').inputValue()).toBe('alice');
    expect(await password.inputValue()).toBe('short');
    await screenshotBoth(page, 'setup');
    await context.close();
  });

  it('creates the admin from the link in the data directory and lands signed in on the dashboard', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto(`/setup#${tokenOf(ui.dataDir)}`);
    await expect.poll(() => page.url()).not.toContain('#');
    await page.getByLabel('Administrator username').fill('alice');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    const me = await (await page.request.get('/api/v1/me')).json();
    expect(me.user).toMatchObject({ username: 'alice', role: 'admin' });
    await context.close();
  });

  it('says setup is done when it is, and sends the person to sign in', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/setup#whatever');
    await page.getByLabel('Administrator username').fill('mallory');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.getByText('Setup is already done').waitFor();
    await page.getByRole('link', { name: 'Go to sign-in' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await context.close();
  });
});
