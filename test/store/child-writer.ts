// Run as a separate process by events.test.ts: plays the CLI writing to the hub's database.
import { join } from 'node:path';
import { openDatabase } from '../../hub/store/db.js';
import { HubKeys } from '../../hub/store/keys.js';
import { Store } from '../../hub/store/store.js';

const [dataDir, countText] = process.argv.slice(2);
const db = openDatabase(join(dataDir!, 'gatehouse.db'));
const store = new Store(db, HubKeys.loadOrCreate(dataDir!), { actor: 'cli' });
for (let n = 0; n < Number(countText); n++) {
  store.events.appendDurable({
    type: 'cli.test',
    doorId: null,
    personId: null,
    credentialId: null,
    data: { n },
  });
}
const card = store.credentials.list().find((c) => c.revokedAt === null);
if (card) store.credentials.revoke(card.id, 'revoked by the CLI process');
await store.stop();
db.close();
