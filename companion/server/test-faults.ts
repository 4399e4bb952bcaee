/**
 * Faults that tests switch on to reach the daemon's recovery paths end to end (a worker that dies
 * mid-job, a cancel that never takes). Only through the environment variable STYLIZE_TEST_FAULTS,
 * a comma-separated list, e.g. "crash-seed=13,hang-on-cancel-seed=14,cancel-grace-ms=1500":
 *
 *   crash-seed=N          the engine thread exits at the first progress of a job whose seed is N
 *   hang-on-cancel-seed=N the engine thread stops responding when a job whose seed is N is cancelled
 *   cancel-grace-ms=N     how long a cancel may take before the engine thread is replaced (default 30 s)
 *
 * The daemon logs a warning when any is set. Never set it outside tests.
 */
export const TEST_FAULTS_ENV = 'STYLIZE_TEST_FAULTS';

export interface TestFaults {
  crashSeed?: number;
  hangOnCancelSeed?: number;
  cancelGraceMs?: number;
}

const KEYS: Record<string, keyof TestFaults> = {
  'crash-seed': 'crashSeed',
  'hang-on-cancel-seed': 'hangOnCancelSeed',
  'cancel-grace-ms': 'cancelGraceMs',
};

/** Parses STYLIZE_TEST_FAULTS; unknown entries are an error, so a typo does not silently test nothing. */
export function testFaults(env: NodeJS.ProcessEnv = process.env): TestFaults {
  const raw = env[TEST_FAULTS_ENV]?.trim();
  const out: TestFaults = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const [name, value] = part.split('=').map((x) => x.trim());
    const key = KEYS[name];
    const n = Number(value);
    if (!key || value === undefined || !Number.isInteger(n) || n < 0) {
      throw new Error(`${TEST_FAULTS_ENV}: "${part}" is not one of ${Object.keys(KEYS).map((k) => `${k}=N`).join(', ')}.`);
    }
    out[key] = n;
  }
  return out;
}
