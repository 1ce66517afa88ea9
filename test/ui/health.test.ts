// Scenario 4 in a real browser: the hub's health at a glance during an internet outage (the cloud link
// is down and its backlog grows), the clock, the broker, the disk, the keypads' guessing figure; and the
// "Accept current time" button, which only an admin sees and only after the hub refused a clock jump.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { launchBrowser, PASSWORD, screenshotBoth, signIn, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
  await ui.addStaff('alice', 'admin');
  await ui.addStaff('sam', 'staff');
  await ui.addStaff('ivan', 'installer');
  // One resident with a PIN at the front door: the keypad's guessing figure is above zero.
  const admin = { actor: 'cli:test', role: 'admin' as const };
  await ui.hub.commands.execute('person.add', { id: 'ada', name: 'Ada', kind: 'resident' }, admin);
  await ui.hub.commands.execute('credential.add_pin', { personId: 'ada', pin: '482915' }, admin);
  await ui.hub.commands.execute('group.add', { id: 'residents' }, admin);
  await ui.hub.commands.execute('group.add_door', { id: 'residents', doorId: 'sim-front' }, admin);
  await ui.hub.commands.execute('group.add_member', { id: 'residents', personId: 'ada' }, admin);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

const card = (page: Page, title: string) => page.getByRole('region', { name: title });

async function openHealth(hub: UiHub, username: string) {
  const signed = await signIn(browser, hub, username);
  signed.context.setDefaultTimeout(10_000);
  await signed.page.getByRole('link', { name: 'Hub' }).click();
  await signed.page.getByRole('heading', { name: 'Hub health' }).waitFor();
  return signed;
}

describe('hub health', () => {
  it('shows the cloud link down with its backlog, the clock, the broker, the disk and the keypads', async () => {
    const { context, page } = await openHealth(ui, 'sam');
    const cloud = card(page, 'Cloud link');
    await expect.poll(() => cloud.textContent()).toContain('Not connected');
    await expect.poll(() => cloud.textContent()).toContain('Events waiting to reach the cloud');
    await expect
      .poll(() => cloud.textContent())
      .toContain('They are kept on the hub and sent when the internet is back.');
    const backlog = Number((ui.hub.status().cloud as { backlog: number }).backlog);
    expect(backlog).toBeGreaterThan(0);
    await expect.poll(() => cloud.textContent()).toMatch(/Events waiting to reach the cloud\d/);

    const clock = card(page, 'Clock');
    await expect.poll(() => clock.textContent()).toContain('Not trusted');
    await expect.poll(() => clock.textContent()).toContain('has not been confirmed');
    expect(await clock.getByRole('button', { name: 'Accept current time' }).count()).toBe(0);

    await expect
      .poll(() => card(page, 'Door controllers (MQTT)').textContent())
      .toContain('Controllers connected now0');
    await expect.poll(() => card(page, 'Storage').textContent()).toContain('Free space');
    const keypads = card(page, 'Keypads and doorcodes');
    await expect.poll(() => keypads.textContent()).toContain('Simulated front door');
    await expect.poll(() => keypads.textContent()).toMatch(/1 in [\d,]+ a day/);
    await expect.poll(() => card(page, 'This hub').textContent()).toContain('Software version');

    // The figures follow the hub: new events while the cloud is down grow the backlog on screen.
    await ui.hub.commands.execute(
      'person.add',
      { name: 'Grace Hopper', kind: 'resident' },
      { actor: 'cli:test', role: 'admin' },
    );
    const grown = Number((ui.hub.status().cloud as { backlog: number }).backlog);
    await expect
      .poll(() => cloud.textContent(), { timeout: 15_000 })
      .toContain(`Events waiting to reach the cloud${grown.toLocaleString('en-US')}`);
    await screenshotBoth(page, 'health');
    await context.close();
  });

  it('shows an installer the health page too', async () => {
    const { context, page } = await openHealth(ui, 'ivan');
    await expect.poll(() => card(page, 'Cloud link').textContent()).toContain('Not connected');
    await context.close();
  });
});

describe('a refused clock jump', () => {
  let clockHub: UiHub;
  let offsetMs = 0;

  beforeAll(async () => {
    // The same hub as startUiHub, with a system clock the test can turn back.
    const dataDir = tempDataDir();
    const hub = new Hub({
      config: testConfig(dataDir, { simulation: { door: 'sim-front' } }),
      now: () => Date.now() + offsetMs,
    });
    await hub.start();
    const admin = { actor: 'cli:test', role: 'admin' as const };
    for (const [username, role] of [
      ['alice', 'admin'],
      ['sam', 'staff'],
    ] as const) {
      await hub.commands.execute('user.add', { username, password: PASSWORD, role }, admin);
    }
    clockHub = {
      hub,
      dataDir,
      url: `http://127.0.0.1:${hub.addresses().http.http}`,
      addStaff: async () => {},
      close: async () => {
        await hub.stop();
        removeDir(dataDir);
      },
    };
    offsetMs = -10 * 60_000; // the system clock jumps ten minutes back: the hub refuses to follow
    expect(hub.status().clock).toMatchObject({ trusted: false, reason: 'clock_jump' });
  });

  afterAll(async () => {
    await clockHub?.close();
  });

  it('offers staff no button, and the API refuses them', async () => {
    const { context, page } = await openHealth(clockHub, 'sam');
    const clock = card(page, 'Clock');
    await expect.poll(() => clock.textContent()).toContain('jumped backwards');
    expect(await clock.getByRole('button', { name: 'Accept current time' }).count()).toBe(0);
    const refused = await page.request.post('/api/v1/clock/accept', {
      data: {},
      headers: { origin: clockHub.url },
    });
    expect(refused.status()).toBe(403);
    await context.close();
  });

  it('lets an admin accept the current time after checking it', async () => {
    const { context, page } = await openHealth(clockHub, 'alice');
    const clock = card(page, 'Clock');
    await expect.poll(() => clock.textContent()).toContain('System time the hub refused');
    await screenshotBoth(page, 'health-clock-refused');
    await clock.getByRole('button', { name: 'Accept current time' }).click();
    const dialog = page.getByRole('dialog', { name: 'Accept the computer’s current time' });
    await dialog.getByRole('button', { name: 'Accept current time' }).click();
    await expect.poll(() => clock.textContent()).not.toContain('jumped backwards');
    expect(await clock.getByRole('button', { name: 'Accept current time' }).count()).toBe(0);
    const accepted = clockHub.hub.store.events.list({ type: 'admin.clock.accepted' })[0];
    expect(accepted?.data.actor).toBe('user:alice');
    await context.close();
  });
});
