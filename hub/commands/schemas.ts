// Input pieces shared by the command schemas: the same id pattern and limits the store checks, so
// a refusal names the field and says what a valid value looks like before the store is touched.
import Type, { type TProperties } from 'typebox';
import { ID_PATTERN } from '../store/errors.js';

export const ID_RULE = "1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit";

/** A record id (person, door, credential, group…): the store's ID_PATTERN. */
export const Id = Type.String({ pattern: ID_PATTERN.source, description: ID_RULE });

/** A display name (the store trims it and refuses control characters). */
export const Name = Type.String({ minLength: 1, maxLength: 128 });

/** Why (kept in the audit log). */
export const Reason = Type.String({ minLength: 1, maxLength: 200 });

/** Epoch milliseconds. */
export const EpochMs = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** An object that refuses unknown fields. */
export function Input<P extends TProperties>(properties: P) {
  return Type.Object(properties, { additionalProperties: false });
}

export const NoInput = Input({});
