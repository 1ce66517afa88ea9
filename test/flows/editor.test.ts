// The Gatehouse nodes in the real Node-RED editor (Debian's Chromium): the palette shows them under
// "gatehouse" with their help, every example imports into the workspace, and every Gatehouse node's edit
// dialog opens and closes — without a single script error in the page.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../ui/browser.js';
import { FLOWS_PACKAGE, type NodeRed, startNodeRed } from './nodered.js';

const TYPES = ['gatehouse-event', 'gatehouse-door', 'gatehouse-lookup', 'gatehouse-code'];

interface EditorWindow {
  RED: {
    nodes: {
      getType(type: string): { category: string } | undefined;
      eachNode(cb: (n: { id: string; type: string }) => void): void;
      node(id: string): unknown;
    };
    view: { importNodes(nodes: unknown[], options?: Record<string, unknown>): void };
    editor: { edit(node: unknown): void };
  };
}

describe('the Gatehouse nodes in the Node-RED editor', () => {
  let red: NodeRed;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    red = await startNodeRed(null);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${red.origin}/flows/`);
    await page
      .locator('.red-ui-palette-node[data-palette-type="gatehouse-door"]')
      .first()
      .waitFor({ timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await red?.stop();
  }, 30_000);

  it('shows the four nodes under "gatehouse", each with help on inputs, outputs and errors', async () => {
    for (const type of TYPES) {
      expect(await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).count(), type).toBe(1);
      const category = await page.evaluate(
        (t) => (globalThis as unknown as EditorWindow).RED.nodes.getType(t)?.category,
        type,
      );
      expect(category, type).toBe('gatehouse');
      const help = await page
        .locator(`script[data-help-name="${type}"]`)
        .evaluate((script) => (script as unknown as { textContent: string }).textContent);
      expect(help, type).toMatch(/<h3>Outputs<\/h3>/);
      expect(help, type).toMatch(/<h3>(Errors|Details)<\/h3>/);
    }
    expect(problems).toEqual([]);
  });

  it('imports every example and opens every Gatehouse node for editing without an error', async () => {
    const dir = path.join(FLOWS_PACKAGE, 'examples');
    // The first example brings the shared "Gatehouse hub" node; for the next ones the editor asks, and the
    // installer picks "replace" for it (docs/installer-flows.md): the same choice here.
    let first = true;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const nodes = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as unknown[];
      const options = first ? {} : { importMap: { 'gatehouse-hub': 'replace' } };
      await page.evaluate(
        ([n, o]) => (globalThis as unknown as EditorWindow).RED.view.importNodes(n as unknown[], o as never),
        [nodes, options] as const,
      );
      first = false;
    }
    const ours = await page.evaluate((types) => {
      const found: string[] = [];
      (globalThis as unknown as EditorWindow).RED.nodes.eachNode((n) => {
        if (types.includes(n.type)) found.push(n.id);
      });
      return found;
    }, TYPES);
    expect(ours.length).toBeGreaterThanOrEqual(8);
    for (const id of ours) {
      await page.evaluate((nodeId) => {
        const RED = (globalThis as unknown as EditorWindow).RED;
        RED.editor.edit(RED.nodes.node(nodeId));
      }, id);
      const cancel = page.locator('#node-dialog-cancel');
      await cancel.waitFor({ timeout: 10_000 });
      await cancel.click();
      await cancel.waitFor({ state: 'detached', timeout: 10_000 });
    }
    expect(problems).toEqual([]);
  }, 120_000);
});
