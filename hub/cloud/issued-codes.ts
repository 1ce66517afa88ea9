// Doorcodes the cloud issued while it could not reach the hub: when the link returns, the cloud
// sends their records (`offline_code` changes: serial, person, scope, type, window, never the
// digits). The hub checks each against its own secret version, clock zone and records, then
// remembers it (docs/offline-codes.md, "Codes issued by the cloud").
import { codeWindow } from '../offline/codes.js';
import { OfflineCodeError, type OfflineCodes } from '../offline/offline-codes.js';
import type { CodeSecretShare } from '../offline/secret-share.js';
import type { Store } from '../store/store.js';
import { offlineCodeSpec } from './changes.js';
import type { OfflineCodeLearner } from './store-port.js';

export interface IssuedCodesOptions {
  store: Store;
  codes: OfflineCodes;
  share: CodeSecretShare;
  timeZone: string;
}

/** The learner StoreCloudPort calls for each `offline_code` change (inside the mirror's transaction). */
export function issuedCodeLearner(options: IssuedCodesOptions): OfflineCodeLearner {
  const { store, codes, share, timeZone } = options;
  return (record) => {
    const parsed = offlineCodeSpec(record);
    if (!parsed.ok) throw new OfflineCodeError(parsed.reason);
    const spec = parsed.spec;
    if (record.secretVersion !== share.version) {
      throw new OfflineCodeError(
        `made with code secret version ${record.secretVersion}, but this hub uses version ${share.version}: the code does not work here`,
      );
    }
    const window = codeWindow(spec, timeZone);
    if (window.start !== record.validFrom || window.end !== record.validUntil) {
      throw new OfflineCodeError(
        `validity ${iso(record.validFrom)} – ${iso(record.validUntil)} does not match the hub's ${iso(window.start)} – ${iso(window.end)} (time zone ${timeZone})`,
      );
    }
    if (record.personId !== null && store.people.get(record.personId) === null) {
      throw new OfflineCodeError(`person '${record.personId}' not found on this hub`);
    }
    const [kind, id] = spec.scope.split(':') as [string, string | undefined];
    if (kind === 'door' && store.doors.get(id!) === null)
      throw new OfflineCodeError(`door '${id}' not found on this hub`);
    if (kind === 'group' && store.groups.get(id!) === null)
      throw new OfflineCodeError(`group '${id}' not found on this hub`);
    return codes.learnIssued(spec, { personId: record.personId, label: record.label ?? null, actor: 'cloud' })
      .learned;
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
