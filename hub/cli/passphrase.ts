// The backup passphrase: from --passphrase-file, $GATEHOUSE_BACKUP_PASSPHRASE, a prompt (asked twice
// for a backup) or stdin; never from argv, where `ps` and the shell history would show it.
import { readFileSync, statSync } from 'node:fs';
import { looseMode } from '../secret-file.js';
import { BackupError, checkPassphrase } from '../store/backup.js';

export const PASSPHRASE_ENV = 'GATEHOUSE_BACKUP_PASSPHRASE';

export interface PassphraseOptions {
  passphraseFile?: string;
  /** Hidden option: present only to refuse it with a clear message. */
  passphrase?: string;
}

interface PassphraseIO {
  err: (line: string) => void;
  readSecret: (prompt: string) => Promise<string>;
}

export async function readBackupPassphrase(
  options: PassphraseOptions,
  io: PassphraseIO,
  confirm: boolean,
): Promise<string> {
  if (options.passphrase !== undefined) {
    throw new BackupError(
      'weak_passphrase',
      'the passphrase is never taken from the command line (ps and the shell history would show it): ' +
        `type it at the prompt, pipe it on stdin, or use --passphrase-file or $${PASSPHRASE_ENV}`,
    );
  }
  let passphrase: string;
  if (options.passphraseFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.passphraseFile, 'utf8');
    } catch (err) {
      throw new BackupError('invalid', `cannot read the passphrase file: ${(err as Error).message}`);
    }
    if (looseMode(statSync(options.passphraseFile).mode) !== null) {
      io.err(`warning: ${options.passphraseFile} is readable by other users; chmod 600 it`);
    }
    passphrase = text.split('\n')[0]!.replace(/\r$/, '');
  } else if (process.env[PASSPHRASE_ENV]) {
    passphrase = process.env[PASSPHRASE_ENV];
  } else {
    passphrase = await io.readSecret('Backup passphrase: ');
    if (confirm && process.stdin.isTTY) {
      checkPassphrase(passphrase); // say it is too short before asking again
      const again = await io.readSecret('Type it again: ');
      if (again !== passphrase)
        throw new BackupError('weak_passphrase', 'the two passphrases differ: nothing was written');
    }
  }
  checkPassphrase(passphrase);
  return passphrase;
}
