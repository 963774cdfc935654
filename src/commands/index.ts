/**
 * Command dispatch: each command parses its own words and runs. Loaded only after argv is parsed; each
 * branch imports just what that command uses (start-up cost).
 */
import type { Writable } from 'node:stream';
import type { CommandName, GlobalOptions, OutputMode } from '../grammar.js';
import { parseAddonSpecs, parseNoArgs, takeNodeOption } from '../grammar.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
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
      const { renderCatalogue } = await import('../output/catalogue.js');
      io.stdout.write(renderCatalogue(await loadCatalogue(), outputOf()));
      return EXIT.ok;
    }
    case 'status': {
      const { runStatus } = await import('./status.js');
      return runStatus(words, globals, outputOf, io);
    }
    case 'reset': {
      const { runReset } = await import('./reset.js');
      return runReset(words, globals, outputOf, io);
    }
    case 'apply': {
      const { runApply } = await import('./apply.js');
      return runApply(words, globals, outputOf, io);
    }
    case 'sandbox': {
      const { runSandbox } = await import('./sandbox.js');
      return runSandbox(words, globals, outputOf, io);
    }
    case 'start':
    case 'stop': {
      const { runStartStop } = await import('./sandbox.js');
      return runStartStop(command, words, globals, outputOf, io);
    }
    case 'cilium': {
      const { runCiliumCli } = await import('./cilium.js');
      return runCiliumCli(words, globals, io);
    }
    case 'datapath': {
      const { runDatapath } = await import('./datapath.js');
      return runDatapath(words, globals, outputOf, io);
    }
    case 'microk8s-repo': {
      const { runMicrok8sRepo } = await import('./microk8s-repo.js');
      return runMicrok8sRepo(words, globals, outputOf, io);
    }
    case 'nodes': {
      const { runNodes } = await import('./nodes.js');
      return runNodes(words, globals, outputOf, io);
    }
    case 'completion': {
      const { runCompletion } = await import('./completion.js');
      return runCompletion(words, globals, io);
    }
    case 'enable':
    case 'disable': {
      // The planner and the node runner load while the catalogue is read and the words parsed.
      const planner = import('../planner.js');
      const runner = import('./run.js');
      // Awaited below unless the words are refused first: no unhandled rejection meanwhile.
      for (const p of [planner, runner]) p.catch(() => undefined);
      const catalogue = await loadCatalogue();
      const { words: addonWords, nodes } = takeNodeOption(command, words);
      const specs = parseAddonSpecs(command, addonWords, globals, catalogue);
      if (globals.help) return help(command, io);
      // Planning is pure and comes first: invalid input fails here, before anything on the node is touched.
      const { plan } = await planner;
      const thePlan = plan({ command, specs, catalogue });
      const { runPlan } = await runner;
      return runPlan(thePlan, specs, catalogue, globals, outputOf(), io, nodes);
    }
  }
}

async function help(command: string, io: Streams): Promise<number> {
  const { commandHelp } = await import('../help.js');
  io.stdout.write(commandHelp(command));
  return EXIT.ok;
}
