// The app shell in a real browser: sign-in (wrong password kept on screen), navigation by role, sign-out.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, PASSWORD, screenshotBoth, signIn, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
  await ui.addStaff('alice', 'admin');
  await ui.addStaff('sam', 'staff');
  await ui.addStaff('ivan', 'installer');
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe('sign-in', () => {
  it('refuses a wrong password in words, keeps the username, then signs in', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/people');
    await screenshotBoth(page, 'login');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong username or password');
    expect(await page.getByLabel('Username').inputValue()).toBe('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/people'); // lands where it was going
    await context.close();
  });

  it('links the hub certificate from the login page', async () => {
    const context = await browser.newContext({ baseURL: ui.url });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByText('Browser warns about the certificate?').click();
    const href = await page.getByRole('link', { name: /Download the hub certificate/ }).getAttribute('href');
    expect(href).toBe('/ca.crt');
    const answer = await page.request.get('/ca.crt');
    expect(answer.status()).toBe(200);
    expect(await answer.text()).toContain('BEGIN CERTIFICATE');
    await context.close();
  });
});

describe('navigation by role', () => {
  const navOf = async (username: string) => {
    const { context, page } = await signIn(browser, ui, username);
    const items = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    return { context, page, items };
  };

  it('shows an admin every area', async () => {
    const { context, items } = await navOf('alice');
    expect(items).toEqual(['Doors', 'People', 'Events', 'Hub', 'Install', 'Staff', 'Flows']);
    await context.close();
  });

  it('hides staff accounts and installation from staff, and refuses the page by URL', async () => {
    const { context, page, items } = await navOf('sam');
    expect(items).toEqual(['Doors', 'People', 'Events', 'Hub']);
    await page.goto('/staff');
    await expect
      .poll(() => page.getByRole('status').allTextContents())
      .toContainEqual(expect.stringContaining('may not open this page'));
    const api = await page.request.get('/api/v1/users');
    expect(api.status()).toBe(403);
    await context.close();
  });

  it('gives an installer provisioning, no people and no door controls', async () => {
    const { context, page, items } = await navOf('ivan');
    expect(items).toEqual(['Events', 'Hub', 'Install', 'Flows']);
    expect(new URL(page.url()).pathname).toBe('/install');
    await context.close();
  });

  it('signs out and the session is gone', async () => {
    const { context, page } = await signIn(browser, ui, 'sam');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect((await page.request.get('/api/v1/me')).status()).toBe(401);
    await context.close();
  });
});
