#!/usr/bin/env node
/**
 * The thin CLI: argv in, one command called, errors out as exit codes. The only file that exits.
 * Keep imports here cheap: --help, --version, list and --dry-run must not load the Kubernetes client,
 * listr2 or handlebars (commands load what they need on demand).
 */
import { readFileSync } from 'node:fs';
import { parseArgv, type OutputMode } from './grammar.js';
import { Mk8sError, EXIT, BUG_REPORT_HINT, redactSecrets } from './errors.js';
import { packagePath } from './adapters/package-files.js';

function defaultOutput(): OutputMode {
  return process.stdout.isTTY ? 'pretty' : 'plain';
}

async function main(argv: string[]): Promise<number> {
  const inv = parseArgv(argv);
  if (inv.version && inv.command === undefined) {
    const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return EXIT.ok;
  }
  if (inv.command === undefined || (inv.globals.help && inv.words.length === 0)) {
    const { mainHelp, commandHelp } = await import('./help.js');
    process.stdout.write(inv.command ? commandHelp(inv.command) : inv.words[0] ? commandHelp(inv.words[0]) : mainHelp());
    return inv.command === undefined && !inv.globals.help && inv.words.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const output = inv.globals.output ?? defaultOutput();
  const { runCommand } = await import('./commands/index.js');
  return runCommand(inv.command, inv.words, inv.globals, output, { stdout: process.stdout, stderr: process.stderr });
}

function report(err: unknown, argv: string[]): number {
  const json = argv.some((a, i) => a === '--output=json' || (a === '--output' && argv[i + 1] === 'json'));
  if (err instanceof Mk8sError) {
    const where = err.phase ? `error in phase ${err.phase}: ` : 'error: ';
    if (json && !err.reported) {
      process.stdout.write(`${JSON.stringify({ type: 'error', code: err.code, phase: err.phase ?? null, message: err.message })}\n`);
      process.stdout.write(`${JSON.stringify({ type: 'result', ok: false, changed: 0, restarts: {} })}\n`);
    }
    else if (!json) process.stderr.write(`mk8s-addons: ${where}${err.message}\n`);
    return err.exitCode;
  }
  const message = redactSecrets(err instanceof Error ? (err.stack ?? err.message) : String(err));
  if (json) {
    process.stdout.write(`${JSON.stringify({ type: 'error', code: 'internal', phase: null, message: `${message.split('\n')[0]}; ${BUG_REPORT_HINT}` })}\n`);
    process.stdout.write(`${JSON.stringify({ type: 'result', ok: false, changed: 0, restarts: {} })}\n`);
  }
  else process.stderr.write(`mk8s-addons: internal error: ${message}\n${BUG_REPORT_HINT}\n`);
  return EXIT.internal;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err, argv);
  },
);
