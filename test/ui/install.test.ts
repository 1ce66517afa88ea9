// Scenario 5, provisioning: an installer adds a door and a LAN device in a real browser, sees the device's
// secret and the hub CA once (text and QR code), and the secret works against the hub's MQTT TLS port
// until "New secret" replaces it; then removes the device and the door. Wired doors show their lines.
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { encode } from 'uqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshotBoth, signIn, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;
let tlsPort: number;

beforeAll(async () => {
  ui = await startUiHub({
    hardware: {
      driver: 'sim',
      doors: [
        {
          door: 'garage',
          lock: { gpio: 17 },
          contact: { gpio: 27 },
          rex: { gpio: 22 },
          readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0' }],
          keypads: [{ id: 'garage-keypad', type: 'wiegand', d0: 5, d1: 6 }],
        },
      ],
    },
  });
  tlsPort = ui.hub.addresses().mqtt.tls!;
  browser = await launchBrowser();
  await ui.addStaff('ivan', 'installer');
  await ui.addStaff('sam', 'staff');
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

/** Connects to the hub's MQTT TLS port as a door controller would; resolves true when accepted. */
async function mqttAccepts(username: string, password: string, ca: string): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      username,
      password,
      ca,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: `${username}-${Math.random().toString(16).slice(2, 8)}`,
    });
    await client.endAsync();
    return true;
  } catch (err) {
    // A refusal is a CONNACK error, not a TLS problem: the CA must have been good.
    expect(String(err)).toMatch(/Bad username or password|Not authorized|refused/i);
    return false;
  }
}

/** The connection details the open dialog shows, read as an installer would copy them. */
async function shownDetails(page: Page) {
  const dialog = page.getByRole('dialog');
  const field = (label: string) => dialog.locator(`code[data-field="${label}"]`).textContent();
  return {
    host: (await field('Host')) ?? '',
    port: Number(await field('Port (MQTT over TLS)')),
    username: (await field('Username')) ?? '',
    password: (await field('Password (secret)')) ?? '',
    ca: (await dialog.locator('pre.secret').textContent()) ?? '',
  };
}

/** The SVG path the QR component draws for `text` (the same encoder settings). */
function qrPath(text: string): string {
  const { data } = encode(text, { ecc: 'M', border: 2 });
  let d = '';
  data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    });
  });
  return d;
}

describe('installation page', () => {
  it('adds a door and a device, shows the secret once, and the secret works until rotated', async () => {
    const { context, page } = await signIn(browser, ui, 'ivan');
    page.setDefaultTimeout(15_000);
    await page.goto('/install');
    await page.getByRole('heading', { name: 'Installation' }).waitFor();

    // What a controller needs, one line each, with the real TLS port.
    await expect.poll(() => page.getByText(`Port ${tlsPort}`).count()).toBe(1);

    // The wired door shows its configured lines and readers.
    const wiring = page.locator('.wiring');
    await expect.poll(() => wiring.textContent()).toContain('lock relay GPIO 17');
    const wired = (await wiring.textContent()) ?? '';
    expect(wired).toContain('contact GPIO 27');
    expect(wired).toContain('exit button GPIO 22');
    expect(wired).toContain('reader garage-nfc: PN532 on /dev/serial0');
    expect(wired).toContain('keypad garage-keypad: Wiegand D0 GPIO 5, D1 GPIO 6');

    // Add a door; a refusal is shown in words next to its field (or on top) and what was typed stays.
    await page.getByRole('button', { name: 'Add door' }).click();
    const doorDialog = page.getByRole('dialog', { name: 'Add door' });
    await doorDialog.getByLabel('Name staff see').fill('Back gate');
    await doorDialog.getByLabel('Door id').fill('sim-front');
    await doorDialog.getByLabel('Unlock time (seconds)').fill('90');
    await doorDialog.getByRole('button', { name: 'Add door' }).click();
    await doorDialog.getByText('Unlock time must be a whole number of seconds from 1 to 60.').waitFor();
    await doorDialog.getByLabel('Unlock time (seconds)').fill('4');
    await doorDialog.getByRole('button', { name: 'Add door' }).click();
    await expect.poll(() => doorDialog.getByRole('alert').first().textContent()).toContain('already exists');
    await doorDialog.getByLabel('Door id').fill('back gate');
    await doorDialog.getByRole('button', { name: 'Add door' }).click();
    await doorDialog.getByText('Use 1–64 letters, digits, dots, dashes or underscores').waitFor();
    expect(await doorDialog.getByLabel('Name staff see').inputValue()).toBe('Back gate');
    await doorDialog.getByLabel('Door id').fill('back-gate');
    await doorDialog.getByRole('button', { name: 'Add door' }).click();
    await page.getByText('Door “Back gate” added.').waitFor();
    expect(ui.hub.store.doors.get('back-gate')).toMatchObject({ name: 'Back gate', unlockMs: 4000 });
    await expect
      .poll(() => page.locator('.install-item').filter({ hasText: 'Back gate' }).first().textContent())
      .toContain('no controller yet');

    // Add a device for it: the connection details appear once, with the CA and a QR code.
    await page.getByRole('button', { name: 'Add device' }).click();
    const deviceDialog = page.getByRole('dialog', { name: 'Add device' });
    await deviceDialog.getByLabel('Device id (its MQTT username)').fill('back-controller');
    await deviceDialog.getByRole('button', { name: 'Add device' }).click();
    await deviceDialog.getByText('Choose at least one door.').waitFor(); // none chosen yet
    await deviceDialog.getByRole('checkbox', { name: /Back gate/ }).check();
    await deviceDialog.getByRole('button', { name: 'Add device' }).click();
    const secretDialog = page.getByRole('dialog', { name: 'Connection details for back-controller' });
    await secretDialog.waitFor();
    await expect.poll(() => secretDialog.locator('pre.secret').textContent()).toContain('BEGIN CERTIFICATE');
    const first = await shownDetails(page);
    expect(first).toMatchObject({ host: '127.0.0.1', port: tlsPort, username: 'back-controller' });
    expect(first.password).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect((await secretDialog.textContent()) ?? '').toContain('The QR code holds the secret');
    // The QR code is exactly the compact JSON a controller's setup app reads.
    const qr = secretDialog.getByRole('img', { name: /QR code/ });
    const json = JSON.stringify({
      host: first.host,
      port: first.port,
      username: first.username,
      password: first.password,
    });
    expect(await qr.locator('path').getAttribute('d')).toBe(qrPath(json));
    await screenshotBoth(page, 'install-secret');

    // The secret works over TLS with the CA as shown.
    expect(await mqttAccepts(first.username, first.password, first.ca)).toBe(true);

    // Closing drops it: it is nowhere on the page any more, and the list shows the controller.
    await secretDialog.getByRole('button', { name: 'I have saved it – close' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(first.password);
    await expect
      .poll(() => page.locator('.install-item').filter({ hasText: 'Back gate' }).first().textContent())
      .toContain('back-controller');
    await page.reload();
    await page.getByRole('heading', { name: 'Installation' }).waitFor();
    expect(await page.content()).not.toContain(first.password);
    await screenshotBoth(page, 'install');

    // Rotate: confirm, the new secret is shown once; the old one is refused, the new one works.
    await page.getByRole('button', { name: 'New secret back-controller' }).click();
    await page
      .getByRole('dialog', { name: 'Give “back-controller” a new secret?' })
      .getByRole('button', { name: 'Make a new secret' })
      .click();
    await page.getByRole('dialog', { name: 'Connection details for back-controller' }).waitFor();
    const second = await shownDetails(page);
    expect(second.password).not.toBe(first.password);
    expect(await mqttAccepts('back-controller', first.password, first.ca)).toBe(false);
    expect(await mqttAccepts('back-controller', second.password, first.ca)).toBe(true);
    await page.getByRole('button', { name: 'I have saved it – close' }).click();

    // Remove the device (after a confirm): it cannot sign in any more.
    await page.getByRole('button', { name: 'Remove back-controller' }).click();
    const removeDevice = page.getByRole('dialog', { name: 'Remove “back-controller”?' });
    await removeDevice.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('Device “back-controller” removed.').waitFor();
    expect(ui.hub.store.devices.get('back-controller')).toBeNull();
    expect(await mqttAccepts('back-controller', second.password, first.ca)).toBe(false);

    // An integration account: no doors, the same once-only details.
    await page.getByRole('button', { name: 'Add device' }).click();
    const integration = page.getByRole('dialog', { name: 'Add device' });
    await integration.getByLabel('Device id (its MQTT username)').fill('node-red');
    await integration.getByLabel('Kind').selectOption('integration');
    await integration.getByRole('button', { name: 'Add device' }).click();
    await page.getByRole('dialog', { name: 'Connection details for node-red' }).waitFor();
    const node = await shownDetails(page);
    expect(await mqttAccepts('node-red', node.password, node.ca)).toBe(true);
    await page.getByRole('button', { name: 'I have saved it – close' }).click();
    expect(ui.hub.store.devices.get('node-red')).toMatchObject({ role: 'integration', doors: [] });

    // Remove the door: a cancel keeps it, a confirm removes it.
    await page.getByRole('button', { name: 'Remove door Back gate' }).click();
    await page
      .getByRole('dialog', { name: 'Remove “Back gate”?' })
      .getByRole('button', { name: 'Cancel' })
      .click();
    expect(ui.hub.store.doors.get('back-gate')).not.toBeNull();
    await page.getByRole('button', { name: 'Remove door Back gate' }).click();
    await page
      .getByRole('dialog', { name: 'Remove “Back gate”?' })
      .getByRole('button', { name: 'Remove door' })
      .click();
    await page.getByText('Door “Back gate” removed.').waitFor();
    expect(ui.hub.store.doors.get('back-gate')).toBeNull();
    await context.close();
  }, 180_000);

  it('is not offered to staff, and the API refuses them', async () => {
    const { context, page } = await signIn(browser, ui, 'sam');
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(nav).not.toContain('Install');
    await page.goto('/install');
    await expect
      .poll(() => page.getByRole('status').allTextContents())
      .toContainEqual(expect.stringContaining('may not open this page'));
    const refused = await page.evaluate(async () => {
      const r = await fetch('/api/v1/devices', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'sneaky', role: 'integration', doors: [] }),
      });
      return r.status;
    });
    expect(refused).toBe(403);
    expect(ui.hub.store.devices.get('sneaky')).toBeNull();
    await context.close();
  });
});
