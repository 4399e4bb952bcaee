/**
 * Small runtime checks for incoming messages. Each failure throws a ProtocolError whose message names
 * the exact field (e.g. `submit.styles[1].name`) and what was expected, so a client author can fix it.
 */
import { ProtocolError, type ErrorCode } from './errors.ts';

export type Obj = Record<string, unknown>;

export function fail(path: string, expected: string, got: unknown, code: ErrorCode = 'bad_message'): never {
  throw new ProtocolError(code, `${path} must be ${expected}, got ${describe(got)}.`);
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') {
    const s = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return `the string ${JSON.stringify(s)}`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function obj(value: unknown, path: string): Obj {
  if (!isObj(value)) fail(path, 'an object', value);
  return value;
}

export function str(o: Obj, key: string, path: string, opts: { min?: number; max: number; pattern?: RegExp; hint?: string }): string {
  const v = o[key];
  const p = `${path}.${key}`;
  if (typeof v !== 'string') fail(p, 'a string', v);
  const min = opts.min ?? 1;
  if (v.length < min || v.length > opts.max) fail(p, `a string of ${min} to ${opts.max} characters`, v);
  if (opts.pattern && !opts.pattern.test(v)) fail(p, opts.hint ?? `a string matching ${opts.pattern}`, v);
  return v;
}

export function optStr(o: Obj, key: string, path: string, opts: { min?: number; max: number; pattern?: RegExp; hint?: string }): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path, opts);
}

export function num(o: Obj, key: string, path: string, opts: { min: number; max: number; integer?: boolean }): number {
  const v = o[key];
  const p = `${path}.${key}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(p, 'a finite number', v);
  if (opts.integer && !Number.isInteger(v)) fail(p, 'an integer', v);
  if (v < opts.min || v > opts.max) fail(p, `between ${opts.min} and ${opts.max}`, v);
  return v;
}

export function optNum(o: Obj, key: string, path: string, opts: { min: number; max: number; integer?: boolean }): number | undefined {
  return o[key] === undefined ? undefined : num(o, key, path, opts);
}

export function bool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(`${path}.${key}`, 'true or false', v);
  return v;
}

export function oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(`${path}.${key}`, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
  }
  return v as T;
}

export function arr(o: Obj, key: string, path: string, opts: { min: number; max: number }): unknown[] {
  const v = o[key];
  const p = `${path}.${key}`;
  if (!Array.isArray(v)) fail(p, 'an array', v);
  if (v.length < opts.min || v.length > opts.max) fail(p, `an array of ${opts.min} to ${opts.max} entries`, v);
  return v;
}
