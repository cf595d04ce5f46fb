import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBoard } from '../src/progress.js';

describe('progress board', () => {
  test('draws one line per blob with a bar and sizes, then redraws in place', () => {
    const frames: string[] = [];
    const board = new ProgressBoard((t) => frames.push(t), 120);
    let done = 0;
    board.set('aaaaaaaaaaaa', 'Already exists');
    board.set('bbbbbbbbbbbb', 'Downloading', { current: () => done, total: 2_000_000 });
    done = 1_000_000;
    board.stop();
    assert.equal(frames.length, 1);
    assert.equal(frames[0], `\x1b[2Kaaaaaaaaaaaa: Already exists\n\x1b[2Kbbbbbbbbbbbb: Downloading [${'='.repeat(20)}>${' '.repeat(19)}] 1.00MB/2.00MB\n`);
    board.set('bbbbbbbbbbbb', 'Pull complete');
    board.stop();
    assert.equal(frames[1], '\x1b[2A\x1b[2Kaaaaaaaaaaaa: Already exists\n\x1b[2Kbbbbbbbbbbbb: Pull complete\n');
  });

  test('a line never wraps on a narrow terminal, and counts past the total are clamped', () => {
    const frames: string[] = [];
    const board = new ProgressBoard((t) => frames.push(t), 40);
    board.set('cccccccccccc', 'Pushing', { current: () => 5_000, total: 1_000 });
    board.stop();
    const line = (frames[0] ?? '').replace('\x1b[2K', '').trimEnd();
    assert.ok(line.length <= 39, line);
    assert.match(line, /^cccccccccccc: Pushing \[=+/);
  });
});
