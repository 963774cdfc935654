// Loaded with `node --import` by tests: records every module URL the program resolves into the file named
// by MK8S_RECORD_IMPORTS, so a test can prove which libraries a command loads.
import { register } from 'node:module';
register('./record-imports-hooks.mjs', import.meta.url, { data: { file: process.env.MK8S_RECORD_IMPORTS } });
