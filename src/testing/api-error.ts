/**
 * The error a simulated endpoint throws: PVE answers it with the status, the message in the status
 * line and in `body.message`, and `body.errors` for parameter errors.
 *
 * @module
 */

/** An API failure as PVE reports it. */
export class PveApiError extends Error {
  override name = 'PveApiError';
  readonly status: number;
  readonly errors: Record<string, string> | undefined;
  constructor(status: number, message: string, errors?: Record<string, string>) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

/** 400 `Parameter verification failed.` with per-parameter errors. */
export function paramError(errors: Record<string, string>): PveApiError {
  return new PveApiError(400, 'Parameter verification failed.\n', errors);
}

/** 403 `Permission check failed (<what>)`. */
export function permissionError(what: string): PveApiError {
  return new PveApiError(403, `Permission check failed (${what})\n`);
}

/** 500: a `die` inside a handler. */
export function handlerError(message: string): PveApiError {
  return new PveApiError(500, message.endsWith('\n') ? message : `${message}\n`);
}
