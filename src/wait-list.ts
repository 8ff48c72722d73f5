/**
 * An intrusive doubly linked list of waiting work, for the batcher: O(1)
 * append and removal, plus an insert that keeps the list ordered by a
 * deadline (for work that arrives nearly in order, it is O(1) too). Each
 * item carries its own links and the list it is in, so no node objects are
 * allocated.
 */

/** What an item of a {@link WaitList} carries. */
export interface WaitNode<T extends WaitNode<T>> {
  /** The neighbours in the list it is in. */
  prev: T | undefined;
  next: T | undefined;
  /** The list it is in, if any. */
  list: WaitList<T> | undefined;
  /** Its deadline, the order of {@link WaitList.insertByDeadline}. */
  readonly acquireBy: number;
}

/** A FIFO of waiting items (see the file header). */
export class WaitList<T extends WaitNode<T>> {
  /** The first (oldest) item. */
  head: T | undefined;
  /** The last item. */
  tail: T | undefined;

  /** Appends `item` at the tail. */
  push(item: T): void {
    item.list = this;
    item.next = undefined;
    item.prev = this.tail;
    if (this.tail === undefined) this.head = item;
    else this.tail.next = item;
    this.tail = item;
  }

  /** Inserts `item` after the last item whose deadline is not later than its own. */
  insertByDeadline(item: T): void {
    let after = this.tail;
    while (after !== undefined && after.acquireBy > item.acquireBy) after = after.prev;
    if (after === this.tail) {
      this.push(item);
      return;
    }
    item.list = this;
    item.prev = after;
    item.next = after === undefined ? this.head : after.next;
    if (item.next) item.next.prev = item;
    if (after === undefined) this.head = item;
    else after.next = item;
  }

  /** Removes `item`, which must be in this list. */
  remove(item: T): void {
    const { prev, next } = item;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    item.prev = undefined;
    item.next = undefined;
    item.list = undefined;
  }
}
