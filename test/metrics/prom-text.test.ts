// The test parser itself rejects what Prometheus rejects, so passing it means something.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText, valueOf } from './prom-text.js';

describe('parsePrometheusText', () => {
  it('parses types, help, labels with escapes, and special values', () => {
    const f = parsePrometheusText('# HELP a_total Things.\n# TYPE a_total counter\na_total{x="q\\"uo\\\\te",y="n\\nl"} 3\n# TYPE g gauge\ng -Inf\ng{k="v"} 1.5e3 1700000000000\n');
    assert.equal(f.get('a_total')!.type, 'counter');
    assert.equal(f.get('a_total')!.help, 'Things.');
    assert.equal(valueOf(f, 'a_total', { x: 'q"uo\\te', y: 'n\nl' }), 3);
    assert.equal(valueOf(f, 'g'), -Infinity);
    assert.equal(valueOf(f, 'g', { k: 'v' }), 1500);
  });
  const bad: [string, RegExp][] = [
    ['# TYPE a gauge\na 1', /end with a newline/],
    ['a 1\n', /has no TYPE/],
    ['# TYPE a gauge\na{b=1} 1\n', /quoted/],
    ['# TYPE a gauge\na{1b="x"} 1\n', /bad label name/],
    ['# TYPE a gauge\na one\n', /bad value/],
    ['# TYPE a gauge\na 1\na 2\n', /duplicate series/],
    ['# TYPE a gauge\na{x="1",x="2"} 1\n', /duplicate label/],
    ['# TYPE a widget\n', /unknown type/],
    ['# TYPE c counter\nc -1\n', /counter c is -1/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n', /not cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 1\n', /no \+Inf/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\nh_sum 1\n', /_count differs/],
    ['# TYPE a gauge\na{x="1"\n', /expected , or \}/],
    ['# TYPE a gauge\na{x="1\n', /unterminated label value/],
  ];
  for (const [text, error] of bad) it(`rejects ${JSON.stringify(text)}`, () => assert.throws(() => parsePrometheusText(text), error));
});
