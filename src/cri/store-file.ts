/**
 * File-backed sandbox and container stores, the embedded default: one JSON document per record
 * under a state directory, written atomically (temp file + fsync + rename + directory fsync).
 *
 * Layout: `<directory>/sandboxes/<id>.json` and `<directory>/containers/<id>.json`. A crash at any
 * point leaves either the previous complete document or the new complete document, never a
 * half-written one; temp files (`.<id>.json.<pid>.<random>.tmp`) left by a dead process are
 * ignored by reads and removed when a store opens. Mutations are serialised inside one store
 * instance, so concurrent callers in one process are safe; use one instance per directory per
 * process (two processes writing the same directory are not coordinated).
 *
 * @module
 */
import { isProcessAlive } from '../internal/process.js';
import { parseOptions } from '../options.js';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AlreadyExistsError, NotFoundError, StoreError, isLxcriError, throwIfAborted } from '../errors.js';
import {
  assertRecordId,
  compareRecords,
  containerNameKey,
  describeContainerName,
} from './store-common.js';
import { Mutex } from '../internal/mutex.js';
import type {
  ContainerListFilter,
  ContainerRecord,
  ContainerStore,
  SandboxRecord,
  SandboxStore,
  StoreOperationOptions,
} from './types.js';

/** What the `beforeRename` hook is told. */
export interface FileStoreWriteInfo {
  /** The temp file, complete and fsynced. */
  tempPath: string;
  /** The record file it is about to replace. */
  path: string;
  /** Record id. */
  id: string;
}

/** Schema of {@link FileStoreOptions}. */
export const FileStoreOptionsSchema = z.strictObject({
  /** State directory; records go to `<directory>/sandboxes/` and `<directory>/containers/` (created 0700). */
  directory: z.string().min(1, 'directory must not be empty'),
  /**
   * fsync each record file and its directory. Turn off only for throw-away state (tests, benchmarks).
   * @defaultValue `true`
   */
  fsync: z.boolean().default(true),
  /**
   * Mode of record files.
   * @defaultValue `0o600`
   */
  fileMode: z.number().int().min(0).max(0o777).default(0o600),
  /**
   * Called after the temp file is written and fsynced, right before it is renamed into place
   * (a diagnostic / crash-test hook). A rejection aborts the write and removes the temp file.
   * @defaultValue none
   */
  beforeRename: z.custom<(info: FileStoreWriteInfo) => void | Promise<void>>((v) => typeof v === 'function', 'beforeRename must be a function').optional(),
});

/** Options of {@link FileSandboxStore} and {@link FileContainerStore} (input form). */
export type FileStoreOptions = z.input<typeof FileStoreOptionsSchema>;
/** Options of the file stores after defaults. */
export type ResolvedFileStoreOptions = z.output<typeof FileStoreOptionsSchema>;

function resolveOptions(options: FileStoreOptions): ResolvedFileStoreOptions {
  return parseOptions(FileStoreOptionsSchema, options, 'file store options');
}

const TEMP_NAME = /^\.(.+)\.json\.(\d+)\.[0-9a-f]+\.tmp$/;
const RECORD_NAME = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\.json$/;

/** One directory of JSON records, written atomically. */
class RecordDirectory<T extends { id: string; createdAt: number }> {
  readonly #dir: string;
  readonly #options: ResolvedFileStoreOptions;
  readonly #kind: 'sandbox' | 'container';
  #ready: Promise<void> | undefined;

  constructor(dir: string, kind: 'sandbox' | 'container', options: ResolvedFileStoreOptions) {
    this.#dir = dir;
    this.#kind = kind;
    this.#options = options;
  }

  get directory(): string {
    return this.#dir;
  }

  /** Removes temp files of dead processes (once). Reads never create the directory; writes do. */
  ready(): Promise<void> {
    this.#ready ??= this.#open().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #open(): Promise<void> {
    try {
      let names: string[];
      try {
        names = await readdir(this.#dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const name of names) {
        const match = TEMP_NAME.exec(name);
        if (!match) continue;
        const pid = Number(match[2]);
        if (pid !== process.pid && !isProcessAlive(pid)) await unlink(join(this.#dir, name)).catch(() => undefined);
      }
    } catch (error) {
      throw new StoreError(`cannot open ${this.#kind} store ${this.#dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { path: this.#dir }, { cause: error });
    }
  }

  pathOf(id: string): string {
    return join(this.#dir, `${id}.json`);
  }

  async read(id: string): Promise<T | undefined> {
    assertRecordId(id, this.#kind);
    await this.ready();
    const path = this.pathOf(id);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError(`cannot read ${this.#kind} ${id}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { path, id }, { cause: error });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new StoreError(`${this.#kind} record ${path} is not valid JSON (damaged outside the store)`, { path, id }, { cause: error });
    }
    if (typeof value !== 'object' || value === null || (value as { id?: unknown }).id !== id) {
      throw new StoreError(`${this.#kind} record ${path} does not hold ${this.#kind} ${id}`, { path, id });
    }
    return value as T;
  }

  async readAll(): Promise<T[]> {
    await this.ready();
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError(`cannot list ${this.#kind} store ${this.#dir}`, { path: this.#dir }, { cause: error });
    }
    const out: T[] = [];
    for (const name of names) {
      const match = RECORD_NAME.exec(name);
      if (!match?.[1]) continue;
      const record = await this.read(match[1]);
      if (record) out.push(record);
    }
    return out.sort(compareRecords);
  }

  async write(record: T, signal: AbortSignal | undefined): Promise<void> {
    assertRecordId(record.id, this.#kind);
    await this.ready();
    const path = this.pathOf(record.id);
    const tempPath = join(this.#dir, `.${record.id}.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const text = `${JSON.stringify(record, null, 2)}\n`;
    let renamed = false;
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const handle = await open(tempPath, 'wx', this.#options.fileMode);
      try {
        await handle.writeFile(text, 'utf8');
        if (this.#options.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      await this.#options.beforeRename?.({ tempPath, path, id: record.id });
      throwIfAborted(signal, 'store operation');
      await rename(tempPath, path);
      renamed = true;
      if (this.#options.fsync) await this.#syncDirectory();
    } catch (error) {
      if (!renamed) await unlink(tempPath).catch(() => undefined);
      if (isLxcriError(error)) throw error;
      throw new StoreError(`cannot write ${this.#kind} ${record.id}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { path, id: record.id }, { cause: error });
    }
  }

  async remove(id: string): Promise<boolean> {
    assertRecordId(id, this.#kind);
    await this.ready();
    try {
      await unlink(this.pathOf(id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new StoreError(`cannot remove ${this.#kind} ${id}`, { path: this.pathOf(id), id }, { cause: error });
    }
    if (this.#options.fsync) await this.#syncDirectory();
    return true;
  }

  async #syncDirectory(): Promise<void> {
    const handle = await open(this.#dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Sandbox store with one JSON file per sandbox under `<directory>/sandboxes/`. * @example
 * ```ts
 * const sandboxes = new FileSandboxStore({ directory: '/var/lib/lxcri' }); // records in /var/lib/lxcri/sandboxes
 * const pod = await sandboxes.get(podSandboxId);
 * ```
 */
export class FileSandboxStore implements SandboxStore {
  readonly #files: RecordDirectory<SandboxRecord>;
  readonly #mutex = new Mutex();

  /** @throws InvalidOptionsError when the options are wrong. */
  constructor(options: FileStoreOptions) {
    const resolved = resolveOptions(options);
    this.#files = new RecordDirectory(join(resolved.directory, 'sandboxes'), 'sandbox', resolved);
  }

  /** Where the records are. */
  get directory(): string {
    return this.#files.directory;
  }

  async get(id: string, options: StoreOperationOptions = {}): Promise<SandboxRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    return this.#files.read(id);
  }

  async list(options: StoreOperationOptions = {}): Promise<SandboxRecord[]> {
    throwIfAborted(options.signal, 'store operation');
    return this.#files.readAll();
  }

  create(record: SandboxRecord, options: StoreOperationOptions = {}): Promise<void> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      if (await this.#files.read(record.id)) throw new AlreadyExistsError(`sandbox ${record.id} already exists`, { sandboxId: record.id });
      await this.#files.write(record, options.signal);
    });
  }

  update(id: string, update: (current: SandboxRecord) => SandboxRecord, options: StoreOperationOptions = {}): Promise<SandboxRecord> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      const current = await this.#files.read(id);
      if (!current) throw new NotFoundError(`sandbox ${id} not found`, { sandboxId: id });
      const next = update(current);
      if (next.id !== id) throw new StoreError(`sandbox update must not change the id (${id} → ${next.id})`, { id });
      await this.#files.write(next, options.signal);
      return structuredClone(next);
    });
  }

  delete(id: string, options: StoreOperationOptions = {}): Promise<boolean> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      return this.#files.remove(id);
    });
  }
}

/**
 * Container store with one JSON file per container under `<directory>/containers/`. The
 * (sandboxId, name, attempt) index is rebuilt from the files when the store opens and kept
 * in memory afterwards; this instance must be the only writer of the directory.
 * @example
 * ```ts
 * const containers = new FileContainerStore({ directory: '/var/lib/lxcri' }); // records in /var/lib/lxcri/containers
 * const running = await containers.list({ state: 'CONTAINER_RUNNING' });
 * ```
 */
export class FileContainerStore implements ContainerStore {
  readonly #files: RecordDirectory<ContainerRecord>;
  readonly #mutex = new Mutex();
  #names: Promise<Map<string, string>> | undefined;

  /** @throws InvalidOptionsError when the options are wrong. */
  constructor(options: FileStoreOptions) {
    const resolved = resolveOptions(options);
    this.#files = new RecordDirectory(join(resolved.directory, 'containers'), 'container', resolved);
  }

  /** Where the records are. */
  get directory(): string {
    return this.#files.directory;
  }

  #index(): Promise<Map<string, string>> {
    this.#names ??= this.#files.readAll().then(
      (records) => new Map(records.map((r) => [containerNameKey(r.sandboxId, r.name, r.attempt), r.id])),
      (error: unknown) => {
        this.#names = undefined;
        throw error;
      },
    );
    return this.#names;
  }

  async get(id: string, options: StoreOperationOptions = {}): Promise<ContainerRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    return this.#files.read(id);
  }

  async findByName(sandboxId: string, name: string, attempt: number, options: StoreOperationOptions = {}): Promise<ContainerRecord | undefined> {
    throwIfAborted(options.signal, 'store operation');
    const id = (await this.#index()).get(containerNameKey(sandboxId, name, attempt));
    return id === undefined ? undefined : this.#files.read(id);
  }

  async list(filter: ContainerListFilter = {}, options: StoreOperationOptions = {}): Promise<ContainerRecord[]> {
    throwIfAborted(options.signal, 'store operation');
    const all = await this.#files.readAll();
    return all.filter((r) => (filter.sandboxId === undefined || r.sandboxId === filter.sandboxId) && (filter.state === undefined || r.state === filter.state));
  }

  create(record: ContainerRecord, options: StoreOperationOptions = {}): Promise<void> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      assertRecordId(record.id, 'container');
      const names = await this.#index();
      if (await this.#files.read(record.id)) throw new AlreadyExistsError(`container ${record.id} already exists`, { containerId: record.id });
      const key = containerNameKey(record.sandboxId, record.name, record.attempt);
      const holder = names.get(key);
      if (holder !== undefined) {
        throw new AlreadyExistsError(`container name ${describeContainerName(record)} is reserved for ${holder}`, { containerId: holder, sandboxId: record.sandboxId });
      }
      await this.#files.write(record, options.signal);
      names.set(key, record.id);
    });
  }

  update(id: string, update: (current: ContainerRecord) => ContainerRecord, options: StoreOperationOptions = {}): Promise<ContainerRecord> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      const current = await this.#files.read(id);
      if (!current) throw new NotFoundError(`container ${id} not found`, { containerId: id });
      const next = update(structuredClone(current));
      if (next.id !== id || next.sandboxId !== current.sandboxId || next.name !== current.name || next.attempt !== current.attempt) {
        throw new StoreError(`container update must not change id, sandboxId, name or attempt of ${id}`, { id });
      }
      await this.#files.write(next, options.signal);
      return structuredClone(next);
    });
  }

  delete(id: string, options: StoreOperationOptions = {}): Promise<boolean> {
    return this.#mutex.run(async () => {
      throwIfAborted(options.signal, 'store operation');
      const names = await this.#index();
      const current = await this.#files.read(id);
      const removed = await this.#files.remove(id);
      if (current) names.delete(containerNameKey(current.sandboxId, current.name, current.attempt));
      return removed;
    });
  }
}
