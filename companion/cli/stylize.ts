// Entry point for `tsx companion/cli/stylize.ts ...` (npm start, npm run stylize).
import { runCli } from './main.ts';

await runCli(process.argv.slice(2));
