/** The training loop's yield, in each of its three forms (setImmediate, a MessageChannel, setTimeout 0): callbacks run
 * later (not synchronously, after already-queued microtasks) and in the order they were scheduled. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macrotaskScheduler, type Schedule } from '../../runtime/macrotask.ts';

async function checkOrder(schedule: Schedule): Promise<void> {
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    for (let i = 0; i < 5; i++) schedule(() => (seen.push(`task ${i}`), i === 4 && resolve()));
  });
  void Promise.resolve().then(() => seen.push('microtask'));
  seen.push('sync');
  await done;
  assert.deepEqual(seen, ['sync', 'microtask', 'task 0', 'task 1', 'task 2', 'task 3', 'task 4']);
}

test('setImmediate (Node)', async () => {
  let used = 0;
  await checkOrder(macrotaskScheduler({ setImmediate: (f) => (used++, setImmediate(f)), MessageChannel, setTimeout }));
  assert.equal(used, 5);
});

test('a MessageChannel (browsers and workers)', async () => {
  const made: MessageChannel[] = [];
  const Counted = class extends MessageChannel {
    constructor() {
      super();
      made.push(this);
    }
  };
  try {
    await checkOrder(macrotaskScheduler({ MessageChannel: Counted, setTimeout: () => assert.fail('setTimeout used') }));
    assert.equal(made.length, 1, 'one channel for every call');
  } finally {
    made.forEach((c) => c.port1.close()); // an open port keeps Node's event loop alive
  }
});

test('setTimeout 0 (neither)', async () => {
  let used = 0;
  await checkOrder(macrotaskScheduler({ setTimeout: (f, ms) => (used++, setTimeout(f, ms)) }));
  assert.equal(used, 5);
});
