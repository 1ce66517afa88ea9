// Plain-text tables for the CLI: upper-case headers, padded columns, '-' for empty cells.
export function printTable(rows: Array<Record<string, unknown>>, io: { out: (line: string) => void }): void {
  if (rows.length === 0) {
    io.out('(none)');
    return;
  }
  const keys = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  io.out(keys.map((k, i) => k.toUpperCase().padEnd(widths[i]!)).join('  '));
  for (const r of rows) {
    io.out(
      keys
        .map((k, i) => cell(r[k]).padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  }
}
