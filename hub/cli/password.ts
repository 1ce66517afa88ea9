// Reads a staff password without echoing it; from a pipe when stdin is not a terminal
// (so scripts can do `echo "$PW" | npx gatehouse user add alice --role admin`).
import { createInterface } from 'node:readline';

export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').split('\n')[0]!.replace(/\r$/, '');
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  const rl = createInterface({ input: stdin, terminal: false });
  return new Promise((resolve) => {
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.off('data', onData);
          rl.close();
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') process.exit(130);
        value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}
