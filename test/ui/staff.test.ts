// Scenario 7, staff accounts in a real browser: an admin adds a staff login; the new user sees only what
// staff may (and the API refuses the rest); a role change shows after a reload; a password reset ends
// their session (old password fails, new works); removal ends it too; the last admin cannot be removed
// or demoted, in the hub's own words.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP, launchBrowser, screenshotBoth, signIn, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;
const MARIA_FIRST = 'lobby desk morning shift';
const MARIA_SECOND = 'a brand new passphrase';

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
  await ui.addStaff('alice', 'admin');
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

/** Signs in through the login page with a given password; resolves with the page or the refusal text. */
async function trySignIn(
  username: string,
  password: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: ui.url });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return { context, page };
}

const navOf = (page: Page) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
const row = (page: Page, username: string) => page.locator('.staff-item').filter({ hasText: username });

describe('staff accounts', () => {
  it('adds, changes the role of, resets and removes a staff login; each change reaches the user', async () => {
    const { context, page } = await signIn(browser, ui, 'alice');
    page.setDefaultTimeout(15_000);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Staff' }).click();
    await page.getByRole('heading', { name: 'Staff accounts' }).waitFor();
    await expect.poll(() => row(page, 'alice').textContent()).toContain('(you)');

    // Add: passwords that differ are caught here; a short one is refused by the hub, next to the field.
    await page.getByRole('button', { name: 'Add staff account' }).click();
    const add = page.getByRole('dialog', { name: 'Add staff account' });
    await add.getByLabel('Username').fill('maria');
    await add.getByLabel('Role').selectOption('staff');
    await add.getByLabel('Password', { exact: true }).fill(MARIA_FIRST);
    await add.getByLabel('Password again').fill('something else entirely');
    await add.getByRole('button', { name: 'Add staff account' }).click();
    await add.getByText('The two passwords are not the same.').waitFor();
    await add.getByLabel('Password', { exact: true }).fill('short');
    await add.getByLabel('Password again').fill('short');
    await add.getByRole('button', { name: 'Add staff account' }).click();
    await add.getByText('password must be at least 10 characters').waitFor();
    expect(await add.getByLabel('Username').inputValue()).toBe('maria'); // what was typed stays
    await add.getByLabel('Password', { exact: true }).fill(MARIA_FIRST);
    await add.getByLabel('Password again').fill(MARIA_FIRST);
    await add.getByRole('button', { name: 'Add staff account' }).click();
    await page.getByText('maria can sign in now.').waitFor();
    await expect.poll(() => row(page, 'maria').textContent()).toContain('Staff');
    await screenshotBoth(page, 'staff');

    // Maria signs in: staff areas only; the Staff page and its API are refused.
    const maria = await trySignIn('maria', MARIA_FIRST);
    await maria.page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await navOf(maria.page)).toEqual(['Doors', 'People', 'Events', 'Hub']);
    await maria.page.goto('/staff');
    await expect
      .poll(() => maria.page.getByRole('status').allTextContents())
      .toContainEqual(expect.stringContaining('may not open this page'));
    expect((await maria.page.request.get('/api/v1/users')).status()).toBe(403);

    // Role → installer: her view changes on the next load.
    await page.getByRole('button', { name: 'Change role: maria' }).click();
    const roleDialog = page.getByRole('dialog', { name: 'Change the role of maria' });
    await roleDialog.getByLabel('Role').selectOption('installer');
    await roleDialog.getByRole('button', { name: 'Change role' }).click();
    await page.getByText('maria is now Installer.').waitFor();
    await maria.page.goto('/events');
    await maria.page.getByRole('button', { name: 'Sign out' }).waitFor();
    await expect.poll(() => navOf(maria.page)).toEqual(['Events', 'Hub', 'Install', 'Flows']);
    expect((await maria.page.request.get('/api/v1/people')).status()).toBe(403);

    // Reset the password: her session ends; the old password fails and the new one works.
    await page.getByRole('button', { name: 'Reset password: maria' }).click();
    const reset = page.getByRole('dialog', { name: 'New password for maria' });
    await reset.getByLabel('New password').fill(MARIA_SECOND);
    await reset.getByLabel('Password again').fill(MARIA_SECOND);
    await reset.getByRole('button', { name: 'Reset password' }).click();
    await page.getByText('Password of maria changed').waitFor();
    expect((await maria.page.request.get('/api/v1/me')).status()).toBe(401);
    await maria.page.reload();
    await maria.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await maria.context.close();
    const old = await trySignIn('maria', MARIA_FIRST);
    await expect
      .poll(() => old.page.getByRole('alert').textContent())
      .toContain('wrong username or password');
    await old.context.close();
    const fresh = await trySignIn('maria', MARIA_SECOND);
    await fresh.page.getByRole('button', { name: 'Sign out' }).waitFor();

    // Remove (after a confirm): her session ends at once.
    await page.getByRole('button', { name: 'Remove: maria' }).click();
    await page.getByRole('dialog', { name: 'Remove maria?' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('maria removed.').waitFor();
    await expect.poll(() => row(page, 'maria').count()).toBe(0);
    expect((await fresh.page.request.get('/api/v1/me')).status()).toBe(401);
    await fresh.page.reload();
    await fresh.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await fresh.context.close();
    await context.close();
  }, 150_000);

  it('refuses removing or demoting the last admin, in the hub’s words', async () => {
    const { context, page } = await signIn(browser, ui, 'alice');
    page.setDefaultTimeout(15_000);
    await page.goto('/staff');
    await page.getByRole('button', { name: 'Remove: alice' }).click();
    const remove = page.getByRole('dialog', { name: 'Remove alice?' });
    await remove.getByText('This is your own account').waitFor();
    await remove.getByRole('button', { name: 'Remove' }).click();
    await expect
      .poll(() => remove.getByRole('alert').textContent())
      .toBe("'alice' is the last admin: add another admin before removing this one");
    await remove.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Change role: alice' }).click();
    const demote = page.getByRole('dialog', { name: 'Change the role of alice' });
    await demote.getByLabel('Role').selectOption('staff');
    await demote.getByRole('button', { name: 'Change role' }).click();
    await expect
      .poll(() => demote.getByRole('alert').textContent())
      .toBe("'alice' is the last admin: add another admin before changing its role");
    expect(ui.hub.store.users.getByUsername('alice')?.role).toBe('admin');
    expect((await page.request.get('/api/v1/me')).status()).toBe(200);
    await context.close();
  }, 60_000);
});
