/**
 * Errors of the InTra engine. Every native failure arrives as an `IntraError` with a
 * stable `code`; argument errors thrown in TypeScript use `INTRA_INVALID_ARGUMENT`.
 *
 * @example
 * try { await engine.trainSteps(10); } catch (e) { if (e instanceof IntraError) console.log(e.code); }
 */
export class IntraError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'IntraError';
    this.code = code;
  }
}

/** Throws the sharp-style message "Expected <what> for <name> but received <value>". */
export function invalidArgument(what: string, name: string, value: unknown): never {
  throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected ${what} for ${name} but received ${describe(value)}`);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of length ${(value as Uint8Array).length}`;
  if (typeof value === 'object') return JSON.stringify(value) ?? String(value);
  return String(value);
}

export function requireInteger(value: unknown, name: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalidArgument(min === 1 ? 'a positive integer' : `an integer of at least ${min}`, name, value);
  }
  return value;
}

export function requireOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    invalidArgument(`one of ${allowed.join(', ')}`, name, value);
  }
  return value as T;
}

/** Runs a native call with the caller's stack: the error points at the caller's line. */
export async function withCallerStack<T>(call: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await call();
  } catch (cause) {
    throw rethrown(cause, site);
  }
}

export function syncWithCallerStack<T>(call: () => T): T {
  try {
    return call();
  } catch (cause) {
    throw rethrown(cause, new Error());
  }
}

function rethrown(cause: unknown, site: Error): IntraError {
  if (cause instanceof IntraError) return cause;
  const native = cause as { code?: unknown; message?: unknown };
  const error = new IntraError(
    typeof native.code === 'string' ? native.code : 'INTRA_NATIVE',
    typeof native.message === 'string' ? native.message : String(cause),
  );
  error.stack = `${error.name}: ${error.message}\n${(site.stack ?? '').split('\n').slice(2).join('\n')}`;
  return error;
}
