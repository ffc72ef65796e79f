/**
 * In-memory sandbox and container stores: for tests and for embedders that keep state elsewhere.
 *
 * @module
 */
import { AlreadyExistsError, NotFoundError, StoreError, throwIfAborted } from '../errors.js';
import { assertRecordId, compareRecords, containerNameKey, describeContainerName } from './store-common.js';
import type {
  ContainerListFilter,
  ContainerRecord,
  ContainerStore,
  SandboxRecord,
  SandboxStore,
  StoreOperationOptions,
} from './types.js';

/** Freezes a value and everything reachable from it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** A frozen private copy of a record. */
function snapshot<T>(record: T): T {
  return deepFreeze(structuredClone(record));
}

/**
 * Sandbox store that keeps records in a `Map`. Records are copied on the way in and deep-frozen,
 * and the frozen copies are handed out (no copy per read): a caller can never change stored state,
 * and an attempt to mutate a returned record throws a `TypeError`. Change records with `update`.
 */
export class InMemorySandboxStore implements SandboxStore {
  readonly #records = new Map<string, SandboxRecord>();

  /** @param initial - records to start with */
  constructor(initial: Iterable<SandboxRecord> = []) {
    for (const record of initial) {
      assertRecordId(record.id, 'sandbox');
      this.#records.set(record.id, snapshot(record));
    }
  }

  async get(id: string, options: StoreOperationOptions = {}): Promise<SandboxRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    assertRecordId(id, 'sandbox');
    return this.#records.get(id);
  }

  async list(options: StoreOperationOptions = {}): Promise<SandboxRecord[]> {
    throwIfAborted(options.signal, 'store operation');
    return [...this.#records.values()].sort(compareRecords);
  }

  async create(record: SandboxRecord, options: StoreOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'store operation');
    assertRecordId(record.id, 'sandbox');
    if (this.#records.has(record.id)) throw new AlreadyExistsError(`sandbox ${record.id} already exists`, { sandboxId: record.id });
    this.#records.set(record.id, snapshot(record));
  }

  async update(id: string, update: (current: SandboxRecord) => SandboxRecord, options: StoreOperationOptions = {}): Promise<SandboxRecord> {
    throwIfAborted(options.signal, 'store operation');
    const current = this.#records.get(id);
    if (!current) throw new NotFoundError(`sandbox ${id} not found`, { sandboxId: id });
    const next = snapshot(update(structuredClone(current)));
    if (next.id !== id) throw new StoreError(`sandbox update must not change the id (${id} → ${next.id})`, { id });
    this.#records.set(id, next);
    return next;
  }

  async delete(id: string, options: StoreOperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal, 'store operation');
    return this.#records.delete(id);
  }
}

/**
 * Container store that keeps records in a `Map` with a (sandboxId, name, attempt) index.
 * Records are copied on the way in and deep-frozen; reads return the frozen copies.
 */
export class InMemoryContainerStore implements ContainerStore {
  readonly #records = new Map<string, ContainerRecord>();
  readonly #names = new Map<string, string>();

  /** @param initial - records to start with */
  constructor(initial: Iterable<ContainerRecord> = []) {
    for (const record of initial) this.#insert(record);
  }

  #insert(record: ContainerRecord): void {
    assertRecordId(record.id, 'container');
    if (this.#records.has(record.id)) throw new AlreadyExistsError(`container ${record.id} already exists`, { containerId: record.id });
    const key = containerNameKey(record.sandboxId, record.name, record.attempt);
    const holder = this.#names.get(key);
    if (holder !== undefined) {
      throw new AlreadyExistsError(`container name ${describeContainerName(record)} is reserved for ${holder}`, { containerId: holder, sandboxId: record.sandboxId });
    }
    this.#records.set(record.id, snapshot(record));
    this.#names.set(key, record.id);
  }

  async get(id: string, options: StoreOperationOptions = {}): Promise<ContainerRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    assertRecordId(id, 'container');
    return this.#records.get(id);
  }

  async findByName(sandboxId: string, name: string, attempt: number, options: StoreOperationOptions = {}): Promise<ContainerRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    const id = this.#names.get(containerNameKey(sandboxId, name, attempt));
    return id === undefined ? undefined : this.#records.get(id);
  }

  async list(filter: ContainerListFilter = {}, options: StoreOperationOptions = {}): Promise<ContainerRecord[]> {
    throwIfAborted(options.signal, 'store operation');
    const out: ContainerRecord[] = [];
    for (const record of this.#records.values()) {
      if (filter.sandboxId !== undefined && record.sandboxId !== filter.sandboxId) continue;
      if (filter.state !== undefined && record.state !== filter.state) continue;
      out.push(record);
    }
    return out.sort(compareRecords);
  }

  async create(record: ContainerRecord, options: StoreOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'store operation');
    this.#insert(record);
  }

  async update(id: string, update: (current: ContainerRecord) => ContainerRecord, options: StoreOperationOptions = {}): Promise<ContainerRecord> {
    throwIfAborted(options.signal, 'store operation');
    const current = this.#records.get(id);
    if (!current) throw new NotFoundError(`container ${id} not found`, { containerId: id });
    const next = snapshot(update(structuredClone(current)));
    if (next.id !== id || next.sandboxId !== current.sandboxId || next.name !== current.name || next.attempt !== current.attempt) {
      throw new StoreError(`container update must not change id, sandboxId, name or attempt of ${id}`, { id });
    }
    this.#records.set(id, next);
    return next;
  }

  async delete(id: string, options: StoreOperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal, 'store operation');
    const record = this.#records.get(id);
    if (!record) return false;
    this.#records.delete(id);
    this.#names.delete(containerNameKey(record.sandboxId, record.name, record.attempt));
    return true;
  }
}
