// The property manager's cloud for the run: the development cloud (deploy/dev-cloud) on loopback with
// its own TLS CA, taken off the air for the afternoon outage, and at the end compared event by event with
// the hub's own log: every event delivered exactly once, with the same hash.
import path from 'node:path';
import { DevCloud } from '../deploy/dev-cloud/server.js';
import { openHubStore } from '../hub/open-store.js';
import { ensureCertificates } from '../hub/pki/certificates.js';

export const HUB_ID = 'sim-hub';
const PAGE = 1000;

export interface SimCloud {
  cloud: DevCloud;
  port: number;
  caFile: string;
  token: string;
}

export async function startCloud(dir: string): Promise<SimCloud> {
  const tlsDir = path.join(dir, 'tls');
  const certs = await ensureCertificates(tlsDir, { hostnames: ['localhost'] });
  const cloud = new DevCloud({
    dbFile: path.join(dir, 'dev-cloud.db'),
    listen: '127.0.0.1:0',
    tls: { certPem: certs.serverCertPem, keyPem: certs.serverKeyPem },
  });
  const { port } = await cloud.start();
  const token = cloud.addHub(HUB_ID);
  return { cloud, port, caFile: path.join(tlsDir, 'ca.crt'), token };
}

/** The highest seq the cloud holds for the hub. */
export function cloudStoredSeq(cloud: DevCloud): number {
  return cloud.hubs().find((h) => h.id === HUB_ID)?.storedSeq ?? 0;
}

export interface Delivery {
  /** Events in the hub's log up to the end of the day (the last seq before the hub stopped). */
  inHubLog: number;
  /** Events the cloud holds for this hub up to that seq. */
  deliveredToCloud: number;
  /** Hub events the cloud does not have. */
  lost: number;
  /** Cloud rows beyond one per seq (the cloud keys by seq, so in effect a second copy). */
  duplicated: number;
  /** Cloud events whose hash differs from the hub's (not the same event). */
  mismatched: number;
  /** First few seqs that were lost or mismatched, for the report. */
  examples: number[];
  /** The cloud's row count for the hub, all seqs. */
  cloudEventCount: number;
  /** Events the hub logged after `throughSeq` (its own shutdown), not expected in the cloud. */
  afterEnd: number;
  /** Alarms raised (`alarm.*`, not the `_cleared` ones) in the hub log, by type. */
  alarms: Record<string, number>;
  /** The hub's own chain check over its whole log. */
  chainIntact: boolean;
}

/**
 * Walks the hub's log (opened after the hub stopped) and the cloud's copy side by side, a page at a
 * time, so memory does not grow with the day.
 */
export function compareDelivery(dataDir: string, cloud: DevCloud, throughSeq: number): Delivery {
  const opened = openHubStore(dataDir);
  try {
    const { store } = opened;
    const result: Delivery = {
      inHubLog: 0,
      deliveredToCloud: 0,
      lost: 0,
      duplicated: 0,
      mismatched: 0,
      examples: [],
      cloudEventCount: cloud.hubs().find((h) => h.id === HUB_ID)?.eventCount ?? 0,
      afterEnd: 0,
      alarms: {},
      chainIntact: store.events.verify().ok,
    };
    const note = (seq: number) => {
      if (result.examples.length < 10) result.examples.push(seq);
    };
    let cloudPage = cloud.events(HUB_ID, 0, PAGE);
    let cloudAt = 0;
    let lastCloudSeq = 0;
    const nextCloud = () => {
      if (cloudAt >= cloudPage.length && cloudPage.length > 0) {
        cloudPage = cloud.events(HUB_ID, cloudPage[cloudPage.length - 1]!.seq, PAGE);
        cloudAt = 0;
      }
      return cloudPage[cloudAt];
    };
    for (let after = 0; ; ) {
      const page = store.events.after(after, PAGE);
      if (page.length === 0) break;
      for (const event of page) {
        after = event.seq;
        if (event.seq > throughSeq) {
          result.afterEnd++;
          continue;
        }
        result.inHubLog++;
        if (event.type.startsWith('alarm.') && !event.type.endsWith('_cleared'))
          result.alarms[event.type] = (result.alarms[event.type] ?? 0) + 1;
        // Skip cloud rows below this seq (there should be none: they would be events the hub lacks).
        let theirs = nextCloud();
        while (theirs && theirs.seq < event.seq) {
          if (theirs.seq === lastCloudSeq) result.duplicated++;
          else result.mismatched++;
          lastCloudSeq = theirs.seq;
          cloudAt++;
          theirs = nextCloud();
        }
        if (!theirs || theirs.seq !== event.seq) {
          result.lost++;
          note(event.seq);
          continue;
        }
        result.deliveredToCloud++;
        if (theirs.hash !== event.hash) {
          result.mismatched++;
          note(event.seq);
        }
        lastCloudSeq = theirs.seq;
        cloudAt++;
        // A second row for the same seq right after the first is a duplicate.
        for (let again = nextCloud(); again && again.seq === event.seq; again = nextCloud()) {
          result.duplicated++;
          cloudAt++;
        }
      }
    }
    return result;
  } finally {
    opened.close();
  }
}
