// Saved marks: a round trip keeps them; a damaged file, or a bad entry in it, is dropped (the
// marks are then derived again), never fatal.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readMarks, writeMarks } from '../../agent/state/marks-file.js';

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-marks-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('written marks read back the same', () => withDir(async (dir) => {
  const marks = new Map([['web/b1', 0x20c], ['web/b2', 0x3fff]]);
  await writeMarks(dir, marks);
  assert.deepEqual(await readMarks(dir), marks);
}));

test('bad entries are dropped, good ones kept; a damaged file yields none', () => withDir(async (dir) => {
  writeFileSync(join(dir, 'marks.json'), JSON.stringify({ 'web/b1': 0x20c, 'web/b2': -1, 'web/b3': 1.5, 'web/b4': 2 ** 33, bad: 0x300, 'web/b5': '0x300' }));
  assert.deepEqual(await readMarks(dir), new Map([['web/b1', 0x20c]]));
  writeFileSync(join(dir, 'marks.json'), '{"web/b1": 5');
  assert.equal((await readMarks(dir)).size, 0);
  assert.equal((await readMarks(join(dir, 'missing'))).size, 0);
}));
