// Loaded with `node --import` by tests: records the file of every child process the program starts
// (child_process.spawn, what src/adapters/process.ts runs commands with) into the file named by
// MK8S_RECORD_SPAWNS, one a line, so a test can prove which programs a command runs.
import { appendFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const file = process.env.MK8S_RECORD_SPAWNS;
const childProcess = createRequire(import.meta.url)('node:child_process');
const spawn = childProcess.spawn;
childProcess.spawn = function recordedSpawn(command, ...rest) {
  if (file) appendFileSync(file, `${command}\n`);
  return spawn.call(this, command, ...rest);
};
// The ESM `import { spawn } from 'node:child_process'` bindings follow the patched CommonJS export.
syncBuiltinESMExports();
