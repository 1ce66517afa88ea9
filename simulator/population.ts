// The building, seeded into a fresh data dir before the hub starts: doors, one controller account per
// door (as `gatehouse device add` makes them), residents with a card and a PIN, a few with a mobile key
// on a simulated phone, and the access group that lets them in.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { IssuerKey, issueMobileKey } from '../hub/mobile/issuer.js';
import { Phone } from '../hub/mobile/phone.js';
import { openHubStore } from '../hub/open-store.js';
import type { Scenario } from './options.js';
import type { Random } from './traffic.js';

/** Door timers run on the hub's real clock: short, so a held-open alarm fits in a fast run. */
export const DOOR_UNLOCK_MS = 2000;
export const DOOR_HELD_OPEN_MS = 3000;

export interface Resident {
  id: string;
  card: string;
  cardCredentialId: string;
  pin: string;
  /** The door the resident mostly uses (their entrance). */
  homeDoor: number;
  phone: Phone | null;
}

export interface DoorAccount {
  id: string;
  device: string;
  secret: string;
}

export interface Population {
  doors: DoorAccount[];
  residents: Resident[];
  /** Indexes into `residents` of those holding a mobile key. */
  mobileHolders: number[];
  /** A second controller account on the first door: the one that misbehaves. */
  flooder: DoorAccount;
  /** A door nobody uses (in no access group): where the forced-open happens, away from any REX or grant. */
  plantRoom: DoorAccount;
}

export const GROUP = 'residents';

export function doorId(index: number): string {
  return `d${String(index + 1).padStart(3, '0')}`;
}

/** Card UIDs are 7-byte NFC UIDs (04 + 6 bytes), unique per resident. */
function cardFor(index: number, random: Random): string {
  const tail = (index * 7_919 + Math.floor(random() * 1000) * 1_000_003).toString(16).toUpperCase();
  return `04${tail.padStart(12, '0').slice(-12)}`;
}

/** 6-digit PINs, distinct for up to 900,000 residents (7,919 is prime and does not divide 900,000). */
function pinFor(index: number, seed: number): string {
  return String(100_000 + ((index * 7_919 + seed) % 900_000));
}

export function seedPopulation(dataDir: string, scenario: Scenario, random: Random): Population {
  const opened = openHubStore(dataDir);
  const { store } = opened;
  const issuer = IssuerKey.loadOrCreate(dataDir);
  try {
    const doors: DoorAccount[] = [];
    const residents: Resident[] = [];
    const mobileHolders: number[] = [];
    store.groups.add({ id: GROUP, name: 'Residents' });
    for (let i = 0; i < scenario.doors; i++) {
      const id = doorId(i);
      store.doors.add({
        id,
        name: `Entrance ${i + 1}`,
        transport: 'mqtt',
        unlockMs: DOOR_UNLOCK_MS,
        heldOpenMs: DOOR_HELD_OPEN_MS,
      });
      store.groups.addDoor(GROUP, id);
      const device = `${id}-ctl`;
      const { secret } = store.devices.add(device, { role: 'door', doors: [id] });
      doors.push({ id, device, secret });
    }
    const flooderDevice = `${doors[0]!.id}-aux`;
    const { secret: flooderSecret } = store.devices.add(flooderDevice, {
      role: 'door',
      doors: [doors[0]!.id],
    });
    store.doors.add({
      id: 'plant-room',
      name: 'Plant room',
      transport: 'mqtt',
      unlockMs: DOOR_UNLOCK_MS,
      heldOpenMs: DOOR_HELD_OPEN_MS,
    });
    const { secret: plantSecret } = store.devices.add('plant-room-ctl', {
      role: 'door',
      doors: ['plant-room'],
    });
    const seen = new Set<string>();
    const batch = 2000;
    for (let start = 0; start < scenario.residents; start += batch) {
      store.transaction(() => {
        for (let i = start; i < Math.min(start + batch, scenario.residents); i++) {
          const id = `r${String(i).padStart(5, '0')}`;
          store.people.add({ id, name: `Resident ${i + 1}`, kind: 'resident' });
          store.groups.addMember(GROUP, id);
          let card = cardFor(i, random);
          while (seen.has(card)) card = cardFor(i + scenario.residents, random);
          seen.add(card);
          const pin = pinFor(i, scenario.seed);
          const stored = store.credentials.addCard(id, card);
          store.credentials.addPin(id, pin);
          residents.push({
            id,
            card,
            cardCredentialId: stored.id,
            pin,
            homeDoor: i % scenario.doors,
            phone: null,
          });
        }
      });
    }
    // At least two phones: one is logged out everywhere mid-day, one goes dead.
    const phones = Math.min(
      scenario.residents,
      Math.max(2, Math.round(scenario.residents * scenario.mobileShare)),
    );
    for (let k = 0; k < phones; k++) {
      const index = Math.floor((k * scenario.residents) / phones);
      const resident = residents[index]!;
      const phone = Phone.generate();
      phone.install(
        issueMobileKey(store, issuer, {
          personId: resident.id,
          phonePublicKey: phone.publicKey,
          groups: [GROUP],
        }).certificate,
      );
      resident.phone = phone;
      mobileHolders.push(index);
    }
    return {
      doors,
      residents,
      mobileHolders,
      flooder: { id: doors[0]!.id, device: flooderDevice, secret: flooderSecret },
      plantRoom: { id: 'plant-room', device: 'plant-room-ctl', secret: plantSecret },
    };
  } finally {
    opened.close();
  }
}

export interface CloudLinkConfig {
  port: number;
  caFile: string;
  token: string;
  hubId: string;
}

/**
 * The hub's config file (data/config.yaml; JSON is YAML). Every simulated phone comes from 127.0.0.1,
 * so the per-address phone budget is raised: in a building each phone has its own address.
 */
export function writeHubConfig(dataDir: string, cloud: CloudLinkConfig): void {
  const config = {
    timeZone: 'UTC',
    offline: { clock: { rtc: true, ntpCheck: false } },
    mobile: {
      requestsPerMinutePerAddress: 100_000,
      burstPerAddress: 10_000,
      challengesPerSecondPerDoor: 1000,
    },
    cloud: {
      enabled: true,
      address: `127.0.0.1:${cloud.port}`,
      hubId: cloud.hubId,
      token: cloud.token,
      caFile: cloud.caFile,
      serverName: 'localhost',
      backoff: { minMs: 200, maxMs: 2000 },
    },
  };
  writeFileSync(path.join(dataDir, 'config.yaml'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
