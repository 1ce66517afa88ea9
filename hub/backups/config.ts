// The `backups` section of the hub config (part of the main schema, hub/config/schema.ts):
// scheduled encrypted backups (docs/replace-a-hub.md, docs/storage.md).
import { existsSync } from 'node:fs';
import path from 'node:path';
import Type, { type Static } from 'typebox';

export const BackupsConfigSchema = Type.Object({
  enabled: Type.Boolean({
    default: false,
    description:
      'Write an encrypted backup (database and every key) on a schedule. The Raspberry Pi installer turns it on.',
  }),
  dir: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Folder for the scheduled backups. Default: <dataDir>/backups.',
    }),
  ),
  copyTo: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Also copy each backup here (a mounted USB stick, e.g. /media/gatehouse-backup). Copied only when it is a mount point on another disk than the data dir; otherwise the failure "USB stick not mounted" is recorded.',
    }),
  ),
  everyHours: Type.Integer({
    minimum: 1,
    maximum: 168,
    default: 24,
    description: 'Hours between two scheduled backups.',
  }),
  keep: Type.Integer({
    minimum: 1,
    maximum: 365,
    default: 7,
    description: 'Scheduled backups kept in each folder; the oldest are deleted after a successful backup.',
  }),
  passphraseFile: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'File holding the backup passphrase (first line; mode 0600, set it with `gatehouse backup passphrase`). Default: <dataDir>/backup.passphrase.',
    }),
  ),
  minFreeMb: Type.Integer({
    minimum: 0,
    maximum: 100_000,
    default: 256,
    description:
      'A backup starts only when each disk it writes to keeps at least this much free beyond the backup itself, so a backup never fills the SD card.',
  }),
});

export type BackupsConfig = Static<typeof BackupsConfigSchema>;

/** The config with its defaults that depend on the data dir filled in. */
export interface ResolvedBackupsConfig {
  enabled: boolean;
  dir: string;
  copyTo: string | null;
  everyHours: number;
  keep: number;
  passphraseFile: string;
  minFreeBytes: number;
}

export const PASSPHRASE_FILE_NAME = 'backup.passphrase';
export const BACKUPS_DIR_NAME = 'backups';

export function resolveBackupsConfig(config: BackupsConfig, dataDir: string): ResolvedBackupsConfig {
  return {
    enabled: config.enabled,
    dir: path.resolve(config.dir ?? path.join(dataDir, BACKUPS_DIR_NAME)),
    copyTo: config.copyTo === undefined ? null : path.resolve(config.copyTo),
    everyHours: config.everyHours,
    keep: config.keep,
    passphraseFile: path.resolve(config.passphraseFile ?? path.join(dataDir, PASSPHRASE_FILE_NAME)),
    minFreeBytes: config.minFreeMb * 1024 * 1024,
  };
}

/**
 * The config file the hub runs with, found as the hub finds it (hub/config/load.ts): an explicit file,
 * else $GATEHOUSE_CONFIG (the systemd unit sets it), else <data>/config.yaml when it exists; else null.
 */
export function hubConfigFile(
  dataDir: string,
  explicit?: string | null,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  const candidate = explicit ?? env.GATEHOUSE_CONFIG ?? path.join(dataDir, 'config.yaml');
  return existsSync(candidate) ? path.resolve(candidate) : null;
}
