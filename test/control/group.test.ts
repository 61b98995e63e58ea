// control.group resolution from /etc/group text.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseGroupFile } from '../../agent/control/group.js';

describe('parseGroupFile', () => {
  const text = 'root:x:0:\n# comment:x:5:\nhaops:x:1001:alice,bob\nbroken:x:abc:\nnogroup:x:65534:\n';
  it('finds a group by exact name', () => {
    assert.equal(parseGroupFile(text, 'haops'), 1001);
    assert.equal(parseGroupFile(text, 'nogroup'), 65534);
    assert.equal(parseGroupFile(text, 'root'), 0);
  });
  it('ignores comments, partial names and broken lines', () => {
    assert.equal(parseGroupFile(text, '# comment'), undefined);
    assert.equal(parseGroupFile(text, 'hao'), undefined);
    assert.equal(parseGroupFile(text, 'broken'), undefined);
  });
});
