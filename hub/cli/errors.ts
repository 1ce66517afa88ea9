// The errors that decide the CLI's exit code (docs/cli.md): 2 for a usage mistake, 1 for a refusal.

/** A usage mistake: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The running hub said no (e.g. unlock during lockdown): exit code 1. */
export class HubRefusedError extends Error {
  override name = 'HubRefusedError';
}
