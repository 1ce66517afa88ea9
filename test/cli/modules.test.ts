// The CLI is one module per noun (hub/cli/commands/*) assembled by program.ts, plus subcommands generated
// from the command table for the commands no module writes by hand.
import { Command } from 'commander';
import Type from 'typebox';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_COMMANDS } from '../../hub/cli/command-table.js';
import { registerDoorCommands } from '../../hub/cli/commands/door.js';
import { registerHolidayCommands } from '../../hub/cli/commands/holiday.js';
import { registerPersonCommands } from '../../hub/cli/commands/person.js';
import { createContext } from '../../hub/cli/context.js';
import { registerGeneratedCommands } from '../../hub/cli/generated.js';
import { buildProgram } from '../../hub/cli/program.js';
import { osUser, runCommand } from '../../hub/cli/run-command.js';
import { type CommandDef, defineCommand } from '../../hub/commands/command.js';
import { openHubStore } from '../../hub/open-store.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

let dir: string;
let out: string[];
beforeEach(() => {
  dir = tempDataDir();
  out = [];
  process.env.GATEHOUSE_DATA = dir;
});
afterEach(() => {
  delete process.env.GATEHOUSE_DATA;
  removeDir(dir);
});

const io = {
  out: (line: string) => out.push(line),
  err: (line: string) => out.push(`ERR ${line}`),
  readSecret: async () => 'a long secret value',
};

function bare(): Command {
  return new Command('gatehouse').option('--json').exitOverride();
}

describe('one module per noun', () => {
  it('each module registers only its noun and works on its own', async () => {
    for (const [register, noun] of [
      [registerDoorCommands, 'door'],
      [registerPersonCommands, 'person'],
      [registerHolidayCommands, 'holiday'],
    ] as const) {
      const program = bare();
      register(program, createContext(program, io, []));
      expect(program.commands.map((c) => c.name())).toEqual([noun]);
    }
    const program = bare();
    registerDoorCommands(program, createContext(program, io, CLI_COMMANDS));
    await program.parseAsync(['door', 'add', 'front', '--name', 'Front entrance'], { from: 'user' });
    await program.parseAsync(['door', 'list'], { from: 'user' });
    expect(out.join('\n')).toMatch(/front\s+Front entrance\s+mqtt\s+normal/);
  });

  it('the assembled program offers every noun', () => {
    const nouns = buildProgram(io).commands.map((c) => c.name());
    for (const noun of ['door', 'person', 'credential', 'group', 'schedule', 'holiday', 'device', 'user'])
      expect(nouns).toContain(noun);
    for (const noun of ['events', 'backup', 'restore', 'config', 'code', 'keypad', 'mobile', 'phone', 'hw'])
      expect(nouns).toContain(noun);
  });
});

describe('subcommands generated from the command table', () => {
  // A table of two commands over the real store: a note with a path parameter, options and a secret.
  const notes: CommandDef[] = [
    defineCommand({
      name: 'note.add_signed',
      summary: 'add a signed note',
      input: Type.Object(
        {
          id: Type.String({ minLength: 1 }),
          text: Type.String(),
          copies: Type.Optional(Type.Integer({ minimum: 1 })),
          tags: Type.Optional(Type.Array(Type.String())),
          urgent: Type.Optional(Type.Boolean()),
          level: Type.Union([Type.Literal('low'), Type.Literal('high')]),
          secret: Type.String({ minLength: 8 }),
        },
        { additionalProperties: false },
      ),
      roles: ['admin'],
      runs: 'store',
      http: { method: 'POST', path: '/notes/:id/signed' },
      run(ctx, input) {
        ctx.store.events.appendDurable({
          type: 'admin.note.added',
          doorId: null,
          personId: null,
          credentialId: null,
          data: { actor: ctx.caller.actor, ...input, secret: input.secret.length },
        });
        return { note: { id: input.id, copies: input.copies ?? 1 } };
      },
    }),
  ];

  function program(): Command {
    const p = bare();
    const cli = createContext(p, io, notes);
    registerGeneratedCommands(p, cli, notes, new Set(), cli.run, { note: 'notes' });
    return p;
  }

  it('path parameters are arguments, other fields options, a secret is asked for; the actor is the OS user', async () => {
    await program().parseAsync(
      [
        'note',
        'add-signed',
        'n1',
        '--text',
        'hello',
        '--copies',
        '2',
        '--tags',
        'a',
        '--tags',
        'b',
        '--urgent',
        '--level',
        'high',
      ],
      { from: 'user' },
    );
    expect(out).toEqual(['note: {"id":"n1","copies":2}']);
    const opened = openHubStore(dir);
    try {
      const [event] = opened.store.events.list({ type: 'admin.note' });
      expect(event?.data).toMatchObject({
        actor: `cli:${osUser()}`,
        id: 'n1',
        text: 'hello',
        copies: 2,
        tags: ['a', 'b'],
        urgent: true,
        level: 'high',
        secret: 'a long secret value'.length,
      });
    } finally {
      opened.close();
    }
  });

  it('refuses a bad choice or a non-number before running, and a missing required option', async () => {
    await expect(
      program().parseAsync(['note', 'add-signed', 'n1', '--text', 't', '--level', 'huge'], { from: 'user' }),
    ).rejects.toThrow(/Allowed choices are low, high/);
    await expect(
      program().parseAsync(['note', 'add-signed', 'n1', '--text', 't', '--level', 'low', '--copies', 'two'], {
        from: 'user',
      }),
    ).rejects.toThrow(/--copies must be a whole number/);
    await expect(
      program().parseAsync(['note', 'add-signed', 'n1', '--level', 'low'], { from: 'user' }),
    ).rejects.toThrow(/required option '--text <text>' not specified/);
  });

  it('runCommand refuses what the command refuses, as a CommandError', async () => {
    await expect(
      runCommand(
        notes,
        'note.add_signed',
        { id: 'n2', text: 't', level: 'low', secret: 'short' },
        {
          dataDir: dir,
          openStore: () => openHubStore(dir),
        },
      ),
    ).rejects.toMatchObject({ name: 'CommandError', code: 'invalid' });
  });
});
