/**
 * VMID allocation without races. PVE reserves nothing: two callers of `GET /cluster/nextid` get
 * the same number, and the loser's create fails with `CT <id> already exists` (or, across nodes,
 * `File exists`). Two modes:
 *
 * - `nextid`: nextid + create run under a per-client mutex, so this client never races itself;
 *   a conflict with another client is retried with a fresh id.
 * - `random`: ids drawn in `[min, max]`, checked with `nextid?vmid=`, then created — for several
 *   controllers sharing a cluster (each ideally with its own range). No mutex; in-flight ids of
 *   this client are never drawn twice.
 *
 * @module
 */
import { AlreadyExistsError, FailedPreconditionError, ProxmoxHttpError, ProxmoxTaskError, isLxcriError, throwIfAborted } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Sleep } from './options.js';
import { Mutex } from '../internal/mutex.js';

/** Resolved `vmid` options. */
export interface VmidAllocatorOptions {
  mode: 'nextid' | 'random';
  min: number;
  max: number;
  maxAttempts: number;
}

/** Options of one allocation. */
export interface AllocateVmidOptions {
  signal?: AbortSignal;
  /** Overrides the client's `vmid.maxAttempts`. */
  maxAttempts?: number;
}

/** Result of an allocation. */
export interface AllocateVmidResult<T> {
  vmid: number;
  /** What `create` returned. */
  result: T;
  /** 1 when the first id worked. */
  attempts: number;
}

/** Creates something with a given VMID; throws PVE's error on a conflict. */
export type CreateWithVmid<T> = (vmid: number, signal: AbortSignal | undefined) => Promise<T>;

const CONFLICT_TEXT = /\b(?:CT|VM) \d+ already exists|config file already exists|File exists/;

/** True when `error` says the VMID is taken (HTTP conflict, `nextid?vmid=` refusal, or a create task that lost the race). */
export function isVmidConflict(error: unknown): boolean {
  if (!isLxcriError(error)) return false;
  if (error instanceof ProxmoxHttpError) {
    if (error.vmidConflict) return true;
    return error.status === 400 && typeof error.errors?.['vmid'] === 'string' && /already exists|in use/i.test(error.errors['vmid']);
  }
  if (error instanceof ProxmoxTaskError) return CONFLICT_TEXT.test(error.exitStatus);
  return false;
}

/** Per-client VMID allocator. */
export class VmidAllocator {
  readonly #mutex = new Mutex();
  readonly #inFlight = new Set<number>();
  readonly #options: VmidAllocatorOptions;
  readonly #nextid: (vmid: number | undefined, signal: AbortSignal | undefined) => Promise<number>;
  readonly #usedIds: ((signal: AbortSignal | undefined) => Promise<ReadonlySet<number>>) | undefined;
  readonly #random: () => number;
  readonly #sleep: Sleep;
  readonly #logger: Logger;
  /** In `nextid` mode when PVE's next id lies outside `[min, max]`: the id to try next inside it. */
  #hint: number | undefined;

  constructor(deps: {
    options: VmidAllocatorOptions;
    nextid: (vmid: number | undefined, signal: AbortSignal | undefined) => Promise<number>;
    /**
     * The VMIDs in use cluster-wide (`GET /cluster/resources?type=vm`): asked in `nextid` mode
     * when PVE's next id lies outside `[min, max]`. Without it, ids in the range are probed one
     * by one with `nextid?vmid=`.
     */
    usedIds?: (signal: AbortSignal | undefined) => Promise<ReadonlySet<number>>;
    sleep: Sleep;
    logger: Logger;
    random?: () => number;
  }) {
    this.#options = deps.options;
    this.#nextid = deps.nextid;
    this.#usedIds = deps.usedIds;
    this.#sleep = deps.sleep;
    this.#logger = deps.logger;
    this.#random = deps.random ?? Math.random;
  }

  /** Runs `create` with a free VMID, retrying with a fresh id on conflict. */
  allocate<T>(create: CreateWithVmid<T>, options: AllocateVmidOptions = {}): Promise<AllocateVmidResult<T>> {
    if (this.#options.mode === 'nextid') return this.#mutex.run(() => this.#loop(create, options), options.signal, 'VMID allocation');
    return this.#loop(create, options);
  }

  async #loop<T>(create: CreateWithVmid<T>, options: AllocateVmidOptions): Promise<AllocateVmidResult<T>> {
    const maxAttempts = options.maxAttempts ?? this.#options.maxAttempts;
    const signal = options.signal;
    let lastError: unknown;
    /** Ids this allocation saw taken: never proposed again by the range search. */
    const taken = new Set<number>();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      throwIfAborted(signal, 'VMID allocation');
      let vmid: number;
      try {
        vmid = await this.#candidate(signal, taken);
      } catch (error) {
        if (!isVmidConflict(error)) throw error;
        lastError = error;
        continue;
      }
      this.#inFlight.add(vmid);
      try {
        const result = await create(vmid, signal);
        return { vmid, result, attempts: attempt };
      } catch (error) {
        if (!isVmidConflict(error)) throw error;
        taken.add(vmid);
        lastError = error;
        this.#logger.debug({ vmid, attempt }, 'VMID taken, retrying with another');
        await this.#sleep(Math.floor(20 + this.#random() * 80 * attempt), signal);
      } finally {
        this.#inFlight.delete(vmid);
      }
    }
    throw new AlreadyExistsError(`no free VMID after ${maxAttempts} attempts`, { attempts: maxAttempts }, { cause: lastError });
  }

  #remember(vmid: number): number {
    this.#hint = vmid + 1;
    return vmid;
  }

  async #candidate(signal: AbortSignal | undefined, taken: Set<number>): Promise<number> {
    const { min, max } = this.#options;
    if (this.#options.mode === 'nextid') {
      // PVE's next id was outside the range last time: try the id after the last one given first
      // (one request), then fall back to the full search
      const hint = this.#hint;
      if (hint !== undefined && hint <= max && !taken.has(hint) && !this.#inFlight.has(hint)) {
        try {
          return this.#remember(await this.#nextid(hint, signal));
        } catch (error) {
          if (!isVmidConflict(error)) throw error;
          taken.add(hint);
        }
      }
      const next = await this.#nextid(undefined, signal);
      if (next >= min && next <= max && !taken.has(next)) {
        this.#hint = undefined;
        return next;
      }
      // PVE's next free id lies outside the configured range: the lowest free id inside it
      const used = this.#usedIds ? await this.#usedIds(signal) : new Set<number>();
      for (let vmid = min; vmid <= max; vmid++) {
        if (used.has(vmid) || taken.has(vmid) || this.#inFlight.has(vmid)) continue;
        try {
          return this.#remember(await this.#nextid(vmid, signal));
        } catch (error) {
          if (!isVmidConflict(error)) throw error;
          taken.add(vmid);
          if (this.#usedIds) throw error;
        }
      }
      throw new FailedPreconditionError(`no free VMID in the configured range ${min}-${max}`, { min, max });
    }
    let vmid = min;
    for (let i = 0; i < 100; i++) {
      vmid = min + Math.floor(this.#random() * (max - min + 1));
      if (!this.#inFlight.has(vmid)) break;
    }
    return this.#nextid(vmid, signal);
  }
}
