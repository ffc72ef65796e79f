/**
 * Helpers shared by the sandbox and container stores.
 *
 * @module
 */
import { StoreError } from '../errors.js';
import { CONTAINER_ID_PATTERN } from '../internal/schemas.js';

/** Throws `StoreError` when `id` cannot be a record id. */
export function assertRecordId(id: unknown, kind: 'sandbox' | 'container'): asserts id is string {
  if (typeof id !== 'string' || !CONTAINER_ID_PATTERN.test(id)) {
    throw new StoreError(`invalid ${kind} id ${JSON.stringify(id)}: expected 1-128 characters [A-Za-z0-9_.-], not starting with . _ or -`, {
      id: typeof id === 'string' ? id.slice(0, 140) : String(id),
    });
  }
}

/** Order of `list()`: creation time, then id. */
export function compareRecords(a: { createdAt: number; id: string }, b: { createdAt: number; id: string }): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Index key of a container name reservation. */
export function containerNameKey(sandboxId: string, name: string, attempt: number): string {
  return `${sandboxId}\u0000${name}\u0000${attempt}`;
}

/** Human form of a container name reservation. */
export function describeContainerName(record: { sandboxId: string; name: string; attempt: number }): string {
  return `${JSON.stringify(record.name)} (attempt ${record.attempt}) in sandbox ${record.sandboxId}`;
}
