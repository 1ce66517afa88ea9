// A power cut in the middle of a write burst: the hub's files are copied while it writes, without
// stopping it, as the disk would hold them, and a hub is started from the copy. Three kinds of copy:
// everything the page cache held (journal, db, -wal, -shm); the db with the WAL cut at a random byte (its
// unsynced tail lost, the last frame torn); the db with only the WAL frames already checkpointed.
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
} from 'node:fs';
import path from 'node:path';
import { DB_FILE_NAME } from '../../hub/store/db.js';
import {
  between,
  type Check,
  cardCredentialIds,
  check,
  credentialIds,
  Door,
  hubCommand,
  integrityCheck,
  loggedRequestIds,
  revokedCredentialIds,
  seedHub,
  sleep,
  startHub,
  verifyChain,
} from '../harness.js';
import type { Scenario } from '../scenario.js';

type Variant = 'page-cache' | 'torn-wal' | 'checkpointed-only';
const VARIANTS: Variant[] = ['page-cache', 'torn-wal', 'checkpointed-only'];
const RESIDENTS = 300;
const IN_FLIGHT = 6;
/** Files of the data dir that never change while the hub runs (keys, certificates). */
const STATIC = ['certs', 'hub.key', 'code.key', 'mobile-issuer.key'];
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;

function readBytes(file: string, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  if (!existsSync(file)) return buffer;
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/** The WAL's checkpoint sequence and salts: they change when SQLite starts the WAL over. */
const walGeneration = (wal: string) => readBytes(wal, 12, 12).toString('hex');
/** Frames of the WAL already copied into the db file (nBackfill in the wal-index, native endian). */
const backfilled = (shm: string) => readBytes(shm, 96, 4).readUInt32LE(0);
/**
 * Valid frames of the current WAL (mxFrame in the wal-index): after a checkpoint SQLite writes the WAL
 * over from the start without shrinking the file, so frames past this are an older generation it ignores.
 */
const validFrames = (shm: string) => readBytes(shm, 16, 4).readUInt32LE(0);

interface Ack {
  kind: 'revoked' | 'added';
  id: string;
}

export const powerCut: Scenario = {
  name: 'power-cut',
  title: 'power cut during a write burst: the hub starts from what the disk held, file sound, chain intact',
  async run({ quick, log, workDir }) {
    const rounds = quick ? 3 : 12;
    const dataDir = path.join(workDir, 'hub');
    const seeded = seedHub(dataDir, RESIDENTS);
    const byPerson = cardCredentialIds(seeded.dbFile);
    const active = seeded.cards.map((card, i) => ({ card, credentialId: byPerson.get(`r${i}`)! }));
    // Cards nobody revokes: each copy's hub must still open the door for them.
    const keep = active.splice(0, 20);
    const hub = await startHub(dataDir);
    const door = await Door.connect(hub.mqttPort, seeded.secret, 'pc');
    const wal = `${seeded.dbFile}-wal`;
    const shm = `${seeded.dbFile}-shm`;
    const failures: string[] = [];
    const totals = {
      copyRetries: 0,
      integrityOk: 0,
      chainOk: 0,
      started: 0,
      doorOpened: 0,
      acknowledgedBeforeCopy: 0,
      missingFromFullCopy: 0,
      answeredBeforeCopy: 0,
      answersMissingFromFullCopy: 0,
      holesInTornCopies: 0,
      heldByTornCopies: 0,
      ackedBeforeTornCopies: 0,
    };
    let added = 0;
    try {
      for (let round = 1; round <= rounds; round++) {
        const variant = VARIANTS[(round - 1) % VARIANTS.length]!;
        const acks: Array<Ack & { at: number }> = [];
        const answers: Array<{ id: string; at: number }> = [];
        let running = true;
        const deciding = async () => {
          while (running) {
            const { card } = keep[between(0, keep.length - 1)]!;
            const answer = await door.present(card, 10_000);
            if (answer) answers.push({ id: answer.id, at: performance.now() });
          }
        };
        const administering = async () => {
          while (running) {
            if (Math.random() < 0.5 && active.length > 0) {
              const { credentialId } = active.splice(between(0, active.length - 1), 1)[0]!;
              const res = await hubCommand(dataDir, 'POST', `/credentials/${credentialId}/revoke`, {});
              if (res.status === 200) acks.push({ kind: 'revoked', id: credentialId, at: performance.now() });
            } else {
              const n = ++added;
              const person = await hubCommand(dataDir, 'POST', '/people', {
                id: `pc${n}`,
                name: `Added ${n}`,
                kind: 'resident',
              });
              if (person.status !== 201) continue;
              const res = await hubCommand(dataDir, 'POST', '/credentials', {
                personId: `pc${n}`,
                card: (0x0d000000 + n).toString(16).toUpperCase(),
              });
              const id = (res.body.credential as { id?: string } | undefined)?.id;
              if (res.status === 201 && id) acks.push({ kind: 'added', id, at: performance.now() });
            }
          }
        };
        // Where this burst begins in the WAL: the torn cut falls inside the burst, not in older frames.
        const walAtStart = { generation: walGeneration(wal), frames: validFrames(shm) };
        const workers = [...Array.from({ length: IN_FLIGHT }, deciding), administering()];
        await sleep(between(300, 1500));

        // The cut: copy what is on "disk" now, while the hub keeps writing.
        const copyDir = path.join(workDir, `copy-${round}-${variant}`);
        let copiedAt = 0;
        for (let attempt = 0; ; attempt++) {
          mkdirSync(copyDir, { recursive: true });
          for (const name of STATIC) {
            const from = path.join(dataDir, name);
            if (existsSync(from)) cpSync(from, path.join(copyDir, name), { recursive: true });
          }
          copiedAt = performance.now();
          const generation = walGeneration(wal);
          if (variant === 'page-cache')
            copyFileSync(path.join(dataDir, 'events.journal'), path.join(copyDir, 'events.journal'));
          // db before WAL: a checkpoint running meanwhile only writes pages the copied WAL still holds.
          copyFileSync(seeded.dbFile, path.join(copyDir, DB_FILE_NAME));
          copyFileSync(wal, path.join(copyDir, `${DB_FILE_NAME}-wal`));
          const framesAtCopy = validFrames(shm);
          if (variant === 'page-cache') copyFileSync(shm, path.join(copyDir, `${DB_FILE_NAME}-shm`));
          const backfilledNow = backfilled(shm);
          // A checkpoint that finished and started the WAL over during the copy gives a mix no disk holds.
          if (walGeneration(wal) !== generation) {
            totals.copyRetries++;
            if (attempt < 20) continue;
            throw new Error('the WAL started over during every one of 20 copies');
          }
          // A checkpoint running during the db copy has finished by now. If the WAL started over
          // meanwhile, how far it got is unknown: the WAL is then kept whole (no cut this round).
          await sleep(300);
          const settled = walGeneration(wal) === generation;
          if (variant !== 'page-cache') {
            // Frames already in the db file were fsynced in the WAL first: a cut can only fall after them.
            const copiedWal = path.join(copyDir, `${DB_FILE_NAME}-wal`);
            const size = statSync(copiedWal).size;
            if (size >= WAL_HEADER_BYTES) {
              const pageSize = readFileSync(copiedWal).readUInt32BE(8);
              const frameBytes = WAL_FRAME_HEADER_BYTES + pageSize;
              const fileFrames = Math.floor((size - WAL_HEADER_BYTES) / frameBytes);
              const frames = Math.min(fileFrames, framesAtCopy);
              const safe = settled ? Math.min(frames, Math.max(backfilledNow, backfilled(shm))) : frames;
              const burstStart = walAtStart.generation === generation ? walAtStart.frames : 0;
              const keepFrames =
                variant === 'checkpointed-only'
                  ? safe
                  : between(Math.min(frames, Math.max(safe, burstStart)), frames);
              const torn = variant === 'torn-wal' && keepFrames < fileFrames ? between(1, frameBytes - 1) : 0;
              truncateSync(copiedWal, WAL_HEADER_BYTES + keepFrames * frameBytes + torn);
              log(
                `round ${round}: WAL cut after frame ${keepFrames} of ${frames} (${settled ? `${safe} checkpointed` : 'it started over just after the copy: kept whole'})`,
              );
            }
          }
          break;
        }
        running = false;
        door.abandonAll();
        await Promise.all(workers);

        // Start a hub from the copy, as after the power came back.
        const copyDb = path.join(copyDir, DB_FILE_NAME);
        const integrity = integrityCheck(copyDb);
        if (integrity === 'ok') totals.integrityOk++;
        else failures.push(`round ${round} (${variant}): integrity_check ${integrity.slice(0, 200)}`);
        const restored = await startHub(copyDir).catch((err: Error) => {
          failures.push(`round ${round} (${variant}): the hub did not start: ${err.message}`);
          return null;
        });
        if (restored) {
          totals.started++;
          const copyDoor = await Door.connect(restored.mqttPort, seeded.secret, `pc-copy${round}`);
          const answer = await copyDoor.present(keep[0]!.card, 15_000);
          if (answer?.granted) totals.doorOpened++;
          else
            failures.push(`round ${round} (${variant}): a valid card got ${answer?.reason ?? 'no answer'}`);
          await copyDoor.close();
          const revoked = revokedCredentialIds(copyDb);
          const present = credentialIds(copyDb);
          const logged = loggedRequestIds(copyDb);
          const held = (a: Ack) => (a.kind === 'revoked' ? revoked.has(a.id) : present.has(a.id));
          const before = acks.filter((a) => a.at < copiedAt);
          if (variant === 'page-cache') {
            const missing = before.filter((a) => !held(a)).length;
            const answered = answers.filter((a) => a.at < copiedAt);
            const answersMissing = answered.filter((a) => !logged.has(a.id)).length;
            totals.acknowledgedBeforeCopy += before.length;
            totals.missingFromFullCopy += missing;
            totals.answeredBeforeCopy += answered.length;
            totals.answersMissingFromFullCopy += answersMissing;
            if (missing + answersMissing > 0)
              failures.push(`round ${round}: ${missing} changes, ${answersMissing} answers missing`);
          } else {
            // A lost WAL tail takes the newest commits: what the copy holds is a prefix, with no hole.
            const lastHeld = before.findLastIndex(held);
            const holes = before.slice(0, lastHeld + 1).filter((a) => !held(a)).length;
            totals.holesInTornCopies += holes;
            totals.heldByTornCopies += lastHeld + 1;
            totals.ackedBeforeTornCopies += before.length;
            if (holes > 0) failures.push(`round ${round} (${variant}): ${holes} older changes missing`);
          }
          await restored.stop();
          const chain = await verifyChain(copyDir);
          if (chain.ok) totals.chainOk++;
          else failures.push(`round ${round} (${variant}): events verify ${chain.detail}`);
        }
        log(`round ${round} (${variant}): ${acks.length} changes and ${answers.length} answers in the burst`);
      }
    } finally {
      await door.close();
      await hub.stop();
    }
    if (failures.length > 0) log(`failures: ${failures.slice(0, 5).join('; ')}`);
    const checks: Check[] = [
      check(`the hub started from every copy (${rounds})`, totals.started === rounds),
      check('PRAGMA integrity_check ok on every copy', totals.integrityOk === rounds),
      check('`gatehouse events verify` intact on every copy', totals.chainOk === rounds),
      check('every restored hub opened the door for a valid card', totals.doorOpened === rounds),
      check(
        'full copies: no change acknowledged before the cut is missing',
        totals.missingFromFullCopy === 0 && totals.acknowledgedBeforeCopy > 0,
        `${totals.acknowledgedBeforeCopy} acknowledged, ${totals.missingFromFullCopy} missing`,
      ),
      check(
        'full copies: no decision answered before the cut is missing from the log',
        totals.answersMissingFromFullCopy === 0 && totals.answeredBeforeCopy > 0,
        `${totals.answeredBeforeCopy} answered, ${totals.answersMissingFromFullCopy} missing`,
      ),
      check(
        'cut WAL: the acknowledged changes a copy holds are a prefix (no older one missing)',
        totals.holesInTornCopies === 0,
        `${totals.heldByTornCopies} of ${totals.ackedBeforeTornCopies} held, ${totals.holesInTornCopies} holes`,
      ),
    ];
    return {
      did: `Ran ${rounds} write bursts (${IN_FLIGHT} presentations in flight, staff revoking and adding cards through the hub) and, at a random moment of each, copied the hub's files without stopping it: everything (journal, db, -wal, -shm), or the db with the WAL cut at a random byte after its checkpointed frames, or the db with only its checkpointed frames. Started a hub from each copy and checked the file, the chain, the door, and what was acknowledged before the cut.`,
      measured: {
        rounds,
        copyRetries: totals.copyRetries,
        copiesStarted: totals.started,
        integrityOk: totals.integrityOk,
        chainIntact: totals.chainOk,
        changesAcknowledgedBeforeFullCopies: totals.acknowledgedBeforeCopy,
        changesMissingFromFullCopies: totals.missingFromFullCopy,
        answersBeforeFullCopies: totals.answeredBeforeCopy,
        answersMissingFromFullCopies: totals.answersMissingFromFullCopy,
        changesHeldByCutCopies: `${totals.heldByTornCopies}/${totals.ackedBeforeTornCopies}`,
        holesInCutCopies: totals.holesInTornCopies,
      },
      checks,
    };
  },
};
