// Scenario 6, the event log in a real browser: events seeded by presenting cards at simulated doors;
// filters by door, person, type and time kept in the URL; newest first with "Load older" paging; live
// events on top; the CSV download holds the filtered rows; every row says who did it; installers see a
// filtered log.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshotBoth, signIn, startUiHub, type UiHub } from './browser.js';

let ui: UiHub;
let browser: Browser;
const CLI = { actor: 'cli:test', role: 'admin' } as const;
const ADA_CARD = 'A1A1A1A1';
const BOB_CARD = 'B2B2B2B2';

beforeAll(async () => {
  ui = await startUiHub();
  browser = await launchBrowser();
  await ui.addStaff('alice', 'admin');
  await ui.addStaff('ivan', 'installer');
  const run = (name: string, input: Record<string, unknown>) => ui.hub.commands.execute(name, input, CLI);
  await run('door.add', { id: 'sim-back', name: 'Back door', transport: 'sim' });
  await run('person.add', { id: 'ada', name: 'Ada Lovelace', kind: 'resident' });
  await run('person.add', { id: 'bob', name: 'Bob Builder', kind: 'resident' });
  await run('credential.add_card', { personId: 'ada', card: ADA_CARD });
  await run('credential.add_card', { personId: 'bob', card: BOB_CARD });
  await run('group.add', { id: 'residents', name: 'Residents' });
  await run('group.add_door', { id: 'residents', doorId: 'sim-front' });
  await run('group.add_member', { id: 'residents', personId: 'ada' });
  // The door manager picks the new simulated door up from the store within a second.
  for (let waited = 0; !ui.hub.simDoors.has('sim-back'); waited += 50) {
    if (waited > 10_000) throw new Error('the simulated back door did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

/** A card presented at a simulated door, through the documented sim route, from the signed-in page. */
async function present(page: Page, door: string, card: string): Promise<boolean> {
  return page.evaluate(
    async ([d, value]) => {
      const r = await fetch(`/api/v1/sim/doors/${d}/card`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value }),
      });
      if (!r.ok) throw new Error(`sim card: ${r.status} ${await r.text()}`);
      return ((await r.json()) as { decision: { granted: boolean } }).decision.granted;
    },
    [door, card] as const,
  );
}

const rows = (page: Page) => page.locator('ol.events > li');
const rowTexts = (page: Page) => rows(page).allTextContents();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event log', () => {
  it('filters by door, person, type and time, in the URL, with live rows and an actor on each', async () => {
    const { context, page } = await signIn(browser, ui, 'alice');
    page.setDefaultTimeout(15_000);
    expect(await present(page, 'sim-front', ADA_CARD)).toBe(true);
    expect(await present(page, 'sim-back', BOB_CARD)).toBe(false);
    await sleep(30);
    const middle = Date.now();
    await sleep(30);
    expect(await present(page, 'sim-front', ADA_CARD)).toBe(true);
    expect(await present(page, 'sim-back', ADA_CARD)).toBe(false);

    await page.goto('/events');
    await rows(page).first().waitFor();
    const all = await rowTexts(page);
    // Newest first: Ada denied at the back door is the top row, in words, with door, person and reason.
    expect(all[0]).toContain('Access denied');
    expect(all[0]).toContain('Back door');
    expect(all[0]).toContain('Ada Lovelace');
    expect(all[0]).toContain('no access to this door');
    expect(all.some((r) => r.includes('Access granted') && r.includes('Simulated front door'))).toBe(true);
    // Staff changes name their actor (the CLI user here); every row says who did it.
    expect(all.some((r) => r.includes('Person added') && r.includes('by test (hub console)'))).toBe(true);
    for (const text of await page.locator('.event-by strong').allTextContents())
      expect(text.trim()).not.toBe('');
    expect(await page.locator('.event-by').count()).toBe(all.length);
    await screenshotBoth(page, 'events');

    // Door: the URL holds it, every row is at that door, and a reload keeps it.
    await page.getByLabel('Door').selectOption('sim-back');
    await expect.poll(() => new URL(page.url()).searchParams.get('door')).toBe('sim-back');
    await expect.poll(async () => (await rowTexts(page)).every((r) => r.includes('Back door'))).toBe(true);
    await page.reload();
    await rows(page).first().waitFor();
    expect(await page.getByLabel('Door').inputValue()).toBe('sim-back');
    expect((await rowTexts(page)).every((r) => r.includes('Back door'))).toBe(true);

    // Type: door decisions only (at the back door: Bob's and Ada's denials).
    await page.getByLabel('Type', { exact: true }).selectOption('decision');
    await expect.poll(() => new URL(page.url()).searchParams.get('type')).toBe('decision');
    await expect.poll(() => rowTexts(page)).toHaveLength(2);
    expect((await rowTexts(page)).every((r) => r.includes('Access denied'))).toBe(true);

    // Person: Ada only, picked by name; the CSV link carries the same filters.
    await page.getByLabel('Person').fill('Ada Lovelace');
    await page.getByLabel('Person').press('Enter');
    await expect.poll(() => new URL(page.url()).searchParams.get('person')).toBe('ada');
    await expect.poll(() => rowTexts(page)).toHaveLength(1);
    const csvHref = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    expect(csvHref).toBe('/api/v1/events.csv?door=sim-back&person=ada&type=decision');

    // Time: before and after the middle of the seeded presentations (URL in epoch ms).
    await page.goto(`/events?type=decision&door=sim-front&until=${middle}`);
    await expect.poll(() => rowTexts(page)).toHaveLength(1);
    await page.goto(`/events?type=decision&from=${middle}`);
    await expect.poll(() => rowTexts(page)).toHaveLength(2);
    expect((await rowTexts(page)).every((r) => r.includes('Ada Lovelace'))).toBe(true);
    // The "Until" field: a minute well before these events empties the list and pauses live rows.
    await page.goto('/events?type=decision');
    await rows(page).first().waitFor();
    const local = (ms: number) => {
      const d = new Date(ms);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    };
    await page.getByLabel('Until').fill(local(Date.now() - 3_600_000));
    await expect.poll(() => new URL(page.url()).searchParams.get('until')).not.toBeNull();
    await page.getByText('No events match these filters.').waitFor();
    await page.getByText('Live updates are paused').waitFor();
    await present(page, 'sim-front', ADA_CARD);
    await sleep(500);
    expect(await rows(page).count()).toBe(0);

    // Live: without a time filter a new presentation appears on top without a reload.
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => new URL(page.url()).search).toBe('');
    await rows(page).first().waitFor();
    const before = await rows(page).count();
    expect(await present(page, 'sim-back', BOB_CARD)).toBe(false);
    await expect.poll(() => rows(page).count()).toBe(before + 1);
    const top = (await rowTexts(page))[0]!;
    expect(top).toContain('Bob Builder');
    expect(top).toContain('Back door');
    await context.close();
  }, 120_000);

  it('pages older events with "Load older" and downloads the filtered rows as CSV', async () => {
    const { context, page } = await signIn(browser, ui, 'alice');
    page.setDefaultTimeout(15_000);
    for (let i = 0; i < 60; i++) await present(page, 'sim-back', BOB_CARD);
    const query = 'door=sim-back&person=bob&type=decision';
    const api = (await (await page.request.get(`/api/v1/events?${query}&limit=1000`)).json()) as {
      events: Array<{ seq: number }>;
    };
    const total = api.events.length;
    expect(total).toBeGreaterThan(60);

    await page.goto(`/events?${query}`);
    await expect.poll(() => rows(page).count()).toBe(50);
    await page.getByRole('button', { name: 'Load older events' }).click();
    await expect.poll(() => rows(page).count()).toBe(total);
    await page.getByText('That is the oldest event.').waitFor();
    // Newest first across pages: the times never go up.
    const times = await page
      .locator('ol.events time')
      .evaluateAll((els) => els.map((el) => Date.parse(el.getAttribute('datetime') ?? '')));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // The CSV link is plain; the session cookie authenticates it. It holds exactly the filtered rows.
    const href = (await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href'))!;
    const csv = await page.request.get(href);
    expect(csv.status()).toBe(200);
    const lines = (await csv.text())
      .replace(/^\ufeff/, '')
      .trim()
      .split(/\r\n/);
    expect(lines[0]).toBe('seq,time,local_time,type,door,person,credential,actor,details');
    const body = lines.slice(1);
    expect(body).toHaveLength(total);
    expect(body.map((l) => Number(l.split(',')[0]))).toEqual(api.events.map((e) => e.seq));
    for (const line of body) {
      const cells = line.split(',');
      expect(cells[3]).toBe('decision');
      expect(cells[4]).toBe('sim-back');
      expect(cells[5]).toBe('bob');
    }
    await context.close();
  }, 120_000);

  it('shows an installer the door and device log without people', async () => {
    const { context, page } = await signIn(browser, ui, 'ivan');
    page.setDefaultTimeout(15_000);
    await page.goto('/events');
    await rows(page).first().waitFor();
    expect(await page.getByLabel('Person').count()).toBe(0);
    const texts = await rowTexts(page);
    expect(texts.some((r) => r.includes('Door added'))).toBe(true);
    expect(texts.some((r) => r.includes('Access granted') || r.includes('Access denied'))).toBe(false);
    expect(texts.some((r) => r.includes('Ada') || r.includes('Bob'))).toBe(false);
    // The API refuses the person filter to an installer.
    expect((await page.request.get('/api/v1/events?person=ada')).status()).toBe(403);

    // A hostile address: the hub refuses the filters, the page says so and runs nothing from the URL.
    await page.goto('/events?type=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&from=yesterday&door=..%2F..');
    await expect.poll(() => page.getByRole('alert').allTextContents()).not.toEqual([]);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await rows(page).count()).toBe(0);
    const csv = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    expect(csv).toBe('/api/v1/events.csv?door=..%2F..&type=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E');
    await context.close();
  }, 60_000);
});
