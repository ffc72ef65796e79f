import { describe, expect, it } from 'vitest';
import { CONTAINER_ID_PATTERN, containerIdSchema, isLogger, loggerSchema } from '../../../src/internal/schemas.js';
import { silentLogger } from '../../../src/logger.js';

describe('loggerSchema', () => {
  it('accepts an object with debug/info/warn/error and refuses anything less', () => {
    expect(loggerSchema.safeParse(silentLogger).success).toBe(true);
    expect(isLogger({ warn: () => undefined })).toBe(false);
    const bad = loggerSchema.safeParse({ warn: () => undefined });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('expected a logger with debug/info/warn/error methods');
  });
});

describe('container id', () => {
  it('takes 1-128 of [A-Za-z0-9_.-] starting with a letter or digit', () => {
    for (const ok of ['a', 'C1', 'abc_.-9', 'x'.repeat(128)]) expect(CONTAINER_ID_PATTERN.test(ok)).toBe(true);
    for (const bad of ['', '.a', '-a', '_a', 'a/b', '..', 'x'.repeat(129), 'a b']) expect(containerIdSchema.safeParse(bad).success).toBe(false);
  });
});
