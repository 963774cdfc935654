/** Command dispatch: each command parses its own words and runs. Loaded only after argv is parsed. */
import type { Writable } from 'node:stream';
import type { CommandName, GlobalOptions, OutputMode } from '../grammar.js';
import { parseAddonSpecs, parseNoArgs } from '../grammar.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { plan } from '../planner.js';
import { renderCatalogue } from '../output/catalogue.js';
import { commandHelp } from '../help.js';
import { EXIT } from '../errors.js';

export interface Streams {
  stdout: Writable;
  stderr: Writable;
}

export async function runCommand(command: CommandName, words: string[], globals: GlobalOptions, defaultOutput: OutputMode, io: Streams): Promise<number> {
  // Options may stand after the addons, so the output mode is known only once the words are parsed.
  const outputOf = () => globals.output ?? defaultOutput;
  switch (command) {
    case 'list': {
      parseNoArgs('list', words, globals);
      if (globals.help) return help(command, io);
      io.stdout.write(renderCatalogue(loadCatalogue(), outputOf()));
      return EXIT.ok;
    }
    case 'datapath': {
      const { runDatapath } = await import('./datapath.js');
      return runDatapath(words, globals, outputOf, io);
    }
    case 'enable':
    case 'disable': {
      const catalogue = loadCatalogue();
      const specs = parseAddonSpecs(command, words, globals, catalogue);
      if (globals.help) return help(command, io);
      // Planning is pure and comes first: invalid input fails here, before anything on the node is touched.
      const thePlan = plan({ command, specs, catalogue });
      const { runPlan } = await import('./run.js');
      return runPlan(thePlan, specs, catalogue, globals, outputOf(), io);
    }
  }
}

function help(command: string, io: Streams): number {
  io.stdout.write(commandHelp(command));
  return EXIT.ok;
}
