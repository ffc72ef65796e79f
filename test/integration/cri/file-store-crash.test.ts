/**
 * The file store survives a kill between the temp write and the rename, and never returns a
 * half-written record: a child process writes records and is SIGKILLed mid-write; this process
 * then opens the same directory and checks what it reads.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileContainerStore } from '../../../src/index.js';

const child = fileURLToPath(new URL('./file-store-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'lxcri-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function start(mode: 'pause' | 'churn', directory: string): { proc: ChildProcess; lines: string[]; waitFor: (test: (line: string) => boolean) => Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, mode, directory], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let buffer = '';
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  proc.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.test(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const waitFor = (test: (line: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const found = lines.find(test);
      if (found) return resolve(found);
      waiters.push({ test, resolve });
      proc.once('exit', (code) => reject(new Error(`child exited (${code}) before the expected line; stderr: ${stderr}`)));
    });
  return { proc, lines, waitFor };
}

function kill(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

describe('FileContainerStore crash safety (child process, SIGKILL)', () => {
  it('a kill between temp write and rename leaves the previous record, and the temp file is cleaned up', async () => {
    const directory = join(root, 'pause');
    const { proc, waitFor } = start('pause', directory);
    const line = await waitFor((l) => l.startsWith('PAUSED '));
    const tempPath = line.slice('PAUSED '.length);
    // The new version is complete in the temp file, but not yet renamed into place.
    expect(JSON.parse(readFileSync(tempPath, 'utf8')).runtimeData.seq).toBe(2);
    await kill(proc);
    expect(existsSync(tempPath)).toBe(true);

    const store = new FileContainerStore({ directory });
    const record = await store.get('c1');
    expect(record?.runtimeData['seq']).toBe(1);
    expect(record?.state).toBe('CONTAINER_CREATED');
    expect((await store.list()).map((r) => r.id)).toEqual(['c1']);
    // Opening removed the dead process's temp file; the store keeps working.
    expect(existsSync(tempPath)).toBe(false);
    expect(readdirSync(join(directory, 'containers'))).toEqual(['c1.json']);
    const updated = await store.update('c1', (r) => ({ ...r, state: 'CONTAINER_RUNNING' }));
    expect(updated.state).toBe('CONTAINER_RUNNING');
    expect((await new FileContainerStore({ directory }).findByName('sb', 'app', 0))?.id).toBe('c1');
  });

  it('kills at random moments of a write loop never leave a half-written record', async () => {
    for (let round = 0; round < 5; round++) {
      const directory = join(root, `churn-${round}`);
      const { proc, lines, waitFor } = start('churn', directory);
      // kill at a random point of the write loop: after a random number of acknowledged writes
      const target = 1 + Math.floor(Math.random() * 30);
      await waitFor((l) => l.startsWith('SEQ ') && Number(l.slice(4)) >= target);
      await kill(proc);
      const lastAcknowledged = Math.max(...lines.filter((l) => l.startsWith('SEQ ')).map((l) => Number(l.slice(4))));

      const record = await new FileContainerStore({ directory }).get('c1');
      const data = record?.runtimeData as { seq: number; blob: string; sha256: string };
      // A complete document: the payload matches its own checksum ...
      expect(createHash('sha256').update(data.blob).digest('hex')).toBe(data.sha256);
      // ... and it is the last acknowledged write or the one in flight when the kill came.
      expect([lastAcknowledged, lastAcknowledged + 1]).toContain(data.seq);
      expect(readdirSync(join(directory, 'containers')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
  });
});
