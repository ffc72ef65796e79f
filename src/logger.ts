/**
 * The logger interface the library writes to. It is pino-compatible (an object of fields first,
 * then a message), so a pino or bunyan logger can be passed as it is. The default is silent:
 * the library never writes to the console.
 *
 * @module
 */
import { redact, redactString } from './redact.js';

/** One log method: structured fields first, then a message. */
export type LogFn = (fields: Record<string, unknown>, message?: string) => void;

/** What the library logs to. Pass a pino logger, or any object with these four methods. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => undefined;

/** A logger that drops everything. The default wherever a logger is optional. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * Wraps a logger so every field and message passes through {@link redact} first.
 * `secrets` is read at each call, so a component can add a renewed ticket to the set it passes.
 */
export function createRedactingLogger(logger: Logger, secrets: () => Iterable<string> = () => []): Logger {
  const wrap =
    (level: keyof Logger): LogFn =>
    (fields, message) => {
      const list = [...secrets()];
      const safeFields = redact(fields, list);
      if (message === undefined) logger[level](safeFields);
      else logger[level](safeFields, redactString(message, list));
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
