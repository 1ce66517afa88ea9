// Staff accounts (scrypt passwords) and their login sessions (random tokens stored as HMACs).
// Password hashing runs on libuv's thread pool (async) so a login never stalls door decisions.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import type { StaffRole } from '../domain.js';
import type { Audit, StoreContext } from './context.js';
import { checkOneOf, generateId, invalid, notFound, StoreError } from './errors.js';

export const STAFF_ROLES: readonly StaffRole[] = ['admin', 'staff', 'installer'];
export const MIN_PASSWORD_LENGTH = 10;
const MAX_PASSWORD_LENGTH = 1024;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const SCRYPT = { N: 16384, r: 8, p: 1, keyLength: 32 };

export interface StaffUser {
  id: string;
  username: string;
  role: StaffRole;
  disabled: boolean;
  createdAt: number;
}

export interface AuthenticatedUser {
  id: string;
  username: string;
  role: StaffRole;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  role: StaffRole;
  disabled: number;
  created_at: number;
}

function toUser(row: UserRow): StaffUser {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
  };
}

function scrypt(
  password: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
  keyLength: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, keyLength, { N, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$salt$hash` (base64url), self-describing so parameters can grow later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLength);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function checkPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (![N, r, p].every(Number.isSafeInteger) || expected.length === 0) return false;
  try {
    const actual = await scrypt(password, salt, N, r, p, expected.length);
    return timingSafeEqual(actual, expected);
  } catch {
    return false; // a damaged hash (absurd parameters) never authenticates
  }
}

// A real hash to check against when the user does not exist, so timing does not reveal usernames.
let dummyHash: Promise<string> | null = null;

function checkPasswordInput(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) {
    throw invalid(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH)
    throw invalid(`password must be at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

function checkUsername(username: unknown): string {
  if (typeof username !== 'string' || !USERNAME.test(username)) {
    throw invalid("username must be 1-64 characters: letters, digits, '_', '.', '@', '-'");
  }
  return username;
}

export class UsersRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  async add(username: string, password: string, role: StaffRole): Promise<StaffUser> {
    const name = checkUsername(username);
    const checkedRole = checkOneOf(role, STAFF_ROLES, 'role');
    const hash = await hashPassword(checkPasswordInput(password));
    return this.#ctx.write(() => {
      if (this.#byName(name)) throw new StoreError('conflict', `user '${name}' already exists`);
      const id = generateId('su');
      this.#ctx
        .stmt(
          'INSERT INTO staff_users (id, username, password_hash, role, disabled, created_at) VALUES (?, ?, ?, ?, 0, ?)',
        )
        .run(id, name, hash, checkedRole, this.#ctx.now());
      this.#audit('admin.user.added', {}, { userId: id, username: name, role: checkedRole });
      return this.#mustGet(id);
    });
  }

  /**
   * First-run setup: creates `username` as admin only if no staff user exists, checked and inserted in
   * one write transaction (BEGIN IMMEDIATE), so parallel setups, or a setup racing `gatehouse user add`
   * in another process, create exactly one admin. The others get a 'conflict' StoreError.
   */
  async addFirstAdmin(username: string, password: string): Promise<StaffUser> {
    const name = checkUsername(username);
    if (this.count() > 0) throw new StoreError('conflict', 'setup is already done');
    const hash = await hashPassword(checkPasswordInput(password));
    return this.#ctx.write(() => {
      if (this.count() > 0) throw new StoreError('conflict', 'setup is already done');
      const id = generateId('su');
      this.#ctx
        .stmt(
          'INSERT INTO staff_users (id, username, password_hash, role, disabled, created_at) VALUES (?, ?, ?, ?, 0, ?)',
        )
        .run(id, name, hash, 'admin', this.#ctx.now());
      this.#audit('admin.user.added', {}, { userId: id, username: name, role: 'admin', setup: true });
      return this.#mustGet(id);
    });
  }

  /** The user if the password is right and the account is enabled, else null. */
  async verify(username: string, password: string): Promise<AuthenticatedUser | null> {
    if (
      typeof username !== 'string' ||
      typeof password !== 'string' ||
      password.length > MAX_PASSWORD_LENGTH
    ) {
      return null;
    }
    const row = USERNAME.test(username) ? this.#byName(username) : undefined;
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await checkPassword(password, row?.password_hash ?? (await dummyHash));
    if (!row || !ok || row.disabled === 1) return null;
    return { id: row.id, username: row.username, role: row.role };
  }

  get(id: string): StaffUser | null {
    const row = this.#ctx
      .stmt<UserRow>(
        'SELECT id, username, password_hash, role, disabled, created_at FROM staff_users WHERE id = ?',
      )
      .get(id);
    return row ? toUser(row) : null;
  }

  getByUsername(username: string): StaffUser | null {
    const row = this.#byName(username);
    return row ? toUser(row) : null;
  }

  list(): StaffUser[] {
    return this.#ctx
      .stmt<UserRow>(
        'SELECT id, username, password_hash, role, disabled, created_at FROM staff_users ORDER BY username',
      )
      .all()
      .map(toUser);
  }

  count(): number {
    return this.#ctx.stmt<number>('SELECT count(*) FROM staff_users').pluck().get() as number;
  }

  /** `id` may also be the username; the user's sessions end with them. */
  remove(id: string): void {
    this.#ctx.write(() => {
      const user = this.#mustGet(id);
      this.#ctx.stmt('DELETE FROM staff_users WHERE id = ?').run(user.id);
      this.#audit('admin.user.removed', {}, { userId: user.id, username: user.username });
    });
  }

  /** Changes the password and ends all of the user's sessions. */
  async setPassword(id: string, password: string): Promise<void> {
    const hash = await hashPassword(checkPasswordInput(password));
    this.#ctx.write(() => {
      const user = this.#mustGet(id);
      this.#ctx.stmt('UPDATE staff_users SET password_hash = ? WHERE id = ?').run(hash, user.id);
      this.#ctx.stmt('DELETE FROM sessions WHERE user_id = ?').run(user.id);
      this.#audit('admin.user.password_changed', {}, { userId: user.id });
    });
  }

  setRole(id: string, role: StaffRole): StaffUser {
    const checkedRole = checkOneOf(role, STAFF_ROLES, 'role');
    return this.#ctx.write(() => {
      const user = this.#mustGet(id);
      this.#ctx.stmt('UPDATE staff_users SET role = ? WHERE id = ?').run(checkedRole, user.id);
      this.#audit('admin.user.role_changed', {}, { userId: user.id, role: checkedRole });
      return this.#mustGet(user.id);
    });
  }

  /** A disabled user cannot log in, and their sessions end at once. */
  setDisabled(id: string, disabled: boolean): StaffUser {
    if (typeof disabled !== 'boolean') throw invalid('disabled must be true or false');
    return this.#ctx.write(() => {
      const user = this.#mustGet(id);
      this.#ctx.stmt('UPDATE staff_users SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, user.id);
      if (disabled) this.#ctx.stmt('DELETE FROM sessions WHERE user_id = ?').run(user.id);
      this.#audit(disabled ? 'admin.user.disabled' : 'admin.user.enabled', {}, { userId: user.id });
      return this.#mustGet(user.id);
    });
  }

  /** A new random session token (returned once); only its HMAC is stored. */
  createSession(userId: string, ttlMs: number): string {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw invalid('session ttlMs must be a positive integer');
    const token = randomBytes(32).toString('base64url');
    this.#ctx.write(() => {
      const user = this.#mustGet(userId);
      if (user.disabled) throw new StoreError('conflict', `user '${user.username}' is disabled`);
      const now = this.#ctx.now();
      this.#ctx.stmt('DELETE FROM sessions WHERE expires_at <= ?').run(now);
      this.#ctx
        .stmt('INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)')
        .run(this.#ctx.keys.hmac('session', token), user.id, now + ttlMs);
    });
    return token;
  }

  /** The user behind a live session token, or null (unknown, expired, or user disabled). */
  sessionUser(token: string): AuthenticatedUser | null {
    if (typeof token !== 'string' || token.length === 0 || token.length > 256) return null;
    const row = this.#ctx
      .stmt<{ id: string; username: string; role: StaffRole }>(
        `SELECT u.id, u.username, u.role FROM sessions s JOIN staff_users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0`,
      )
      .get(this.#ctx.keys.hmac('session', token), this.#ctx.now());
    return row ? { id: row.id, username: row.username, role: row.role } : null;
  }

  deleteSession(token: string): void {
    if (typeof token !== 'string') return;
    this.#ctx.write(() => {
      this.#ctx.stmt('DELETE FROM sessions WHERE token_hash = ?').run(this.#ctx.keys.hmac('session', token));
    });
  }

  #byName(username: string): UserRow | undefined {
    return this.#ctx
      .stmt<UserRow>(
        'SELECT id, username, password_hash, role, disabled, created_at FROM staff_users WHERE username = ?',
      )
      .get(username);
  }

  /** Accepts a user id or a username (the CLI works with usernames). */
  #mustGet(idOrUsername: string): StaffUser {
    const user = this.get(idOrUsername) ?? this.getByUsername(idOrUsername);
    if (!user) throw notFound('user', String(idOrUsername));
    return user;
  }
}
