// The saved health/admin state is input like any other: valid entries survive a round trip,
// anything else in the file is dropped entry by entry, never trusted, never fatal.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBackendKey, parseSavedState, readSavedState, writeSavedState, type SavedBackend } from '../../agent/state/store.js';

test('backend keys: two valid names around one slash', () => {
  for (const key of ['web/b1', 'a-b_c/x_y-z', `${'f'.repeat(24)}/${'b'.repeat(32)}`]) assert.equal(isBackendKey(key), true, key);
  for (const key of ['web', 'web/', '/b1', 'web/b1/x', 'we b/b1', `${'f'.repeat(25)}/b`, `f/${'b'.repeat(33)}`, 'web/b1\n']) {
    assert.equal(isBackendKey(key), false, JSON.stringify(key));
  }
});

test('a written state reads back the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-state-'));
  try {
    const state = new Map<string, SavedBackend>([['web/b1', { health: 'down', since: 5 }], ['web/b2', { health: 'up', admin: 'drain', since: 7 }]]);
    await writeSavedState(dir, state);
    assert.deepEqual(await readSavedState(dir), state);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad entries are dropped one by one; the good ones are kept', () => {
  const text = JSON.stringify({
    version: 1,
    backends: {
      'web/b1': { health: 'down', since: 1 },
      'web/b2': { health: 'sideways', since: 1 },
      'no-slash': { health: 'up', since: 1 },
      'web/b3': { health: 'up', admin: 'asleep', since: 'yesterday' },
      'web/b4': null,
    },
  });
  assert.deepEqual(parseSavedState(text), new Map([['web/b1', { health: 'down', since: 1 }], ['web/b3', { health: 'up', since: 0 }]]));
});

test('a damaged or missing file is no state at all', async () => {
  for (const text of ['', '{', 'null', '[]', '{"backends": 3}']) assert.equal(parseSavedState(text).size, 0, text);
  assert.equal((await readSavedState('/nonexistent/ha-agent')).size, 0);
});
