/** The `stylize` command: dispatches to its subcommands. */
import { CliError } from './cli-error.ts';
import { RUN_USAGE, runStylizeCommand } from './run-command.ts';

const USAGE = `Stylize: neural style transfer (Gatys et al.) for designers.

  stylize CONTENT STYLE [STYLE ...] -o OUT.png [options]   run one job here (stylize --help for options)
  stylize serve [options]      start the companion daemon for the Figma / Photopea plugin (npm start)
  stylize doctor               check weights, backend, port and token, and say how to fix problems
  stylize weights [options]    download the VGG-19 weights into weights/cache (checksummed, resumable)
  stylize service install|status|stop|uninstall   run the companion in the background, started at login
  stylize bench [options]      measure ms per iteration on each available backend
  stylize bench-large [options]  one 2048 x 2048 job through coarse-to-fine and tiles: time, memory, seams
  stylize bench-quality [options]  time against quality: plans vs the seed recipe, distances, contact sheet
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('../server/serve-command.ts')).runServe,
  doctor: async () => (await import('../server/doctor-command.ts')).runDoctor,
  weights: async () => (await import('./weights-command.ts')).runWeightsCommand,
  service: async () => (await import('./service-command.ts')).runServiceCommand,
  bench: async () => (await import('../bench/bench.ts')).runBench,
  'bench-large': async () => (await import('../bench/large-job.ts')).runLargeJobBench,
  'bench-quality': async () => (await import('../bench/quality.ts')).runQualityBench,
};

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stdout.write(USAGE);
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE + '\n' + RUN_USAGE);
    return 0;
  }
  const load = COMMANDS[first];
  return load ? (await load())(rest) : runStylizeCommand(argv);
}

/** Runs the CLI and sets the exit code; known errors print as one line, no stack. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`stylize: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`stylize: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
