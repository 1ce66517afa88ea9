// Disk-full headroom for the event log (docs/outages.md, "Disk full and power cuts"). A file of
// real, allocated blocks sits in the data directory; when a write fails for lack of space it is
// deleted, which gives the event log, its alarm and revocations room to be written, and it is
// recreated once space has returned.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Written in 1 MiB chunks of random bytes: a compressing or deduplicating filesystem still allocates them. */
const CHUNK_BYTES = 1024 * 1024;

/** File-system calls the journal and the reserve make, so a test can stand in a failing disk. */
export interface StorageFs {
  writeSync(fd: number, buffer: Buffer, offset: number): number;
  /** Bytes an unprivileged process may still write in `dir`. */
  freeBytes(dir: string): number;
}

export const nodeStorageFs: StorageFs = {
  writeSync: (fd, buffer, offset) => writeSync(fd, buffer, offset),
  freeBytes: (dir) => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  },
};

/** The data disk is "low" under this share of its size free, or under DISK_LOW_BYTES, whichever is hit first. */
export const DISK_LOW_FRACTION = 0.1;
export const DISK_LOW_BYTES = 500 * 1024 * 1024;

export interface DiskStatus {
  /** The data directory. */
  path: string;
  /** Bytes the hub (an unprivileged process) may still write there. */
  freeBytes: number;
  totalBytes: number;
  low: boolean;
}

/** Free and total space of the disk holding `dir` (GET /api/v1/status `disk`); null if it cannot be read. */
export function diskStatus(dir: string): DiskStatus | null {
  try {
    const s = statfsSync(dir);
    const freeBytes = s.bavail * s.bsize;
    const totalBytes = s.blocks * s.bsize;
    return {
      path: resolve(dir),
      freeBytes,
      totalBytes,
      low: freeBytes < DISK_LOW_BYTES || freeBytes < totalBytes * DISK_LOW_FRACTION,
    };
  } catch {
    return null;
  }
}

/** The system or SQLite code of an error, looking through a StoreError to its cause. */
export function storageErrorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: unknown } | null;
  if (e?.cause !== undefined && e.code === 'unavailable') return storageErrorCode(e.cause);
  return String(e?.code ?? 'unknown');
}

/** True for errors that mean "no space left" (file system or SQLite). */
export function isNoSpace(err: unknown): boolean {
  const code = storageErrorCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

export class DiskReserve {
  readonly file: string;
  readonly bytes: number;
  readonly #fs: StorageFs;

  constructor(file: string, bytes: number, fs: StorageFs = nodeStorageFs) {
    this.file = file;
    this.bytes = bytes;
    this.#fs = fs;
  }

  /** True when the reserve is in place (now or already); false when there is no room for it. */
  ensure(): boolean {
    if (this.bytes <= 0) return true;
    try {
      if (statSync(this.file).size >= this.bytes) return true;
    } catch {
      // missing: create it below
    }
    const chunk = randomBytes(Math.min(CHUNK_BYTES, this.bytes));
    let fd: number | null = null;
    try {
      fd = openSync(this.file, 'w', 0o600);
      let written = 0;
      while (written < this.bytes) {
        const want = Math.min(chunk.length, this.bytes - written);
        written += this.#fs.writeSync(fd, chunk.subarray(0, want), 0);
      }
      fsyncSync(fd);
      closeSync(fd);
      return true;
    } catch {
      if (fd !== null) closeSync(fd);
      this.release();
      return false;
    }
  }

  /** Deletes the reserve; true when there was one to delete. */
  release(): boolean {
    try {
      unlinkSync(this.file);
      return true;
    } catch {
      return false;
    }
  }

  freeBytes(): number {
    return this.#fs.freeBytes(dirname(this.file));
  }
}
