// The indexed min-heap against a sorted array, under random pushes, pops and removals.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MinHeap, type HeapItem } from '../../checks/heap.js';

interface Item extends HeapItem { readonly id: number }

describe('MinHeap', () => {
  it('pops in order and removes from anywhere, like a sorted array would', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const heap = new MinHeap<Item>();
    let model: Item[] = [];
    for (let step = 0; step < 5000; step++) {
      const op = random();
      if (op < 0.5 || model.length === 0) {
        const item: Item = { id: step, at: Math.floor(random() * 1000), heapIndex: -1 };
        heap.push(item);
        model.push(item);
      } else if (op < 0.75) {
        const popped = heap.pop()!;
        const min = Math.min(...model.map((i) => i.at));
        assert.equal(popped.at, min);
        assert.equal(popped.heapIndex, -1);
        model = model.filter((i) => i !== popped);
      } else {
        const victim = model[Math.floor(random() * model.length)]!;
        assert.equal(heap.remove(victim), true);
        assert.equal(heap.remove(victim), false);
        model = model.filter((i) => i !== victim);
      }
      assert.equal(heap.size, model.length);
    }
  });

  it('refuses an item twice and clears', () => {
    const heap = new MinHeap<Item>();
    const item: Item = { id: 1, at: 5, heapIndex: -1 };
    heap.push(item);
    assert.throws(() => heap.push(item), /already/);
    heap.clear();
    assert.deepEqual([heap.size, heap.peek(), item.heapIndex], [0, undefined, -1]);
  });
});
