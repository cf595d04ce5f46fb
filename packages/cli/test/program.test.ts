import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commandWord } from '../src/command-word.js';
import { buildProgram } from '../src/program.js';

const io = { out: (): void => undefined };
const names = (only?: string): string[] => buildProgram(io, {}, only).commands.map((c) => c.name());

describe('the command line: which command runs', () => {
  test('the command word is the first argument that is no option; --root takes its value along', () => {
    assert.equal(commandWord(['run', '--rm', 'img', 'true']), 'run');
    assert.equal(commandWord(['--root', 'run', 'images', '-q']), 'images');
    assert.equal(commandWord(['--root', '/var/lib/x', 'ps', '-a']), 'ps');
    assert.equal(commandWord(['--help']), undefined);
    assert.equal(commandWord([]), undefined);
    assert.equal(commandWord(['Run']), undefined, 'not a plain lower-case word');
    assert.equal(commandWord(['../x']), undefined);
  });

  test('with a command word, only that command is defined; without one, or with a word that names none, all are', () => {
    const all = names();
    assert.equal(all.length, 25);
    for (const c of ['pull', 'push', 'images', 'run', 'ps', 'exec', 'commit', 'search']) assert.ok(all.includes(c), c);
    assert.deepEqual(names('run'), ['run']);
    assert.deepEqual(names('images'), ['images']);
    assert.deepEqual(names('imags'), all, 'a typo gets every command, so commander can suggest one');
    assert.deepEqual(names('help'), all);
  });
});
