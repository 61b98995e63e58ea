// An indexed binary min-heap on `at`: the scheduler's queue of due probes, with O(log n) removal.

export interface HeapItem {
  /** The key: when the item is due. */
  at: number;
  /** Where the item sits in the heap; -1 when it is not in one. Owned by the heap. */
  heapIndex: number;
}

export class MinHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    if (item.heapIndex !== -1) throw new Error('item is already in a heap');
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes the item if it is in this heap; returns whether it was. */
  remove(item: T): boolean {
    const i = item.heapIndex;
    if (i < 0 || this.items[i] !== item) return false;
    this.removeAt(i);
    return true;
  }

  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items.length = 0;
  }

  private removeAt(i: number): void {
    const removed = this.items[i]!;
    const last = this.items.pop()!;
    removed.heapIndex = -1;
    if (last === removed) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  private up(i: number): void {
    const item = this.items[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = this.items[parentIndex]!;
      if (parent.at <= item.at) break;
      this.place(parent, i);
      i = parentIndex;
    }
    this.place(item, i);
  }

  private down(i: number): void {
    const item = this.items[i]!;
    const n = this.items.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.items[right]!.at < this.items[child]!.at) child = right;
      const smaller = this.items[child]!;
      if (smaller.at >= item.at) break;
      this.place(smaller, i);
      i = child;
    }
    this.place(item, i);
  }

  private place(item: T, i: number): void {
    this.items[i] = item;
    item.heapIndex = i;
  }
}
