/**
 * `stylize weights [--dest DIR] [--url URL] [--verify]`: downloads the pinned VGG-19 weights into the
 * project cache (or DIR), or with --verify checks the hashes of the weights the companion would use.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { StylizeError } from '../../common/errors.ts';
import { downloadWeights } from '../../weights/download.ts';
import { progressReporter } from '../../weights/progress.ts';
import { verifyWeights } from '../../weights/loader.ts';
import { WEIGHTS_CACHE_ENV, WEIGHTS_DIR_ENV, locateWeights, weightsCacheDir } from '../../weights/locate.ts';

const USAGE = 'Usage: stylize weights [--dest DIR] [--url URL] [--verify]';

const help = () => `${USAGE}

Downloads the VGG-19 weights (about 21 MB, checked against pinned SHA-256 hashes) into
${weightsCacheDir()}  (${WEIGHTS_CACHE_ENV} moves it)
An interrupted download resumes on the next run.

  --dest DIR   download into DIR instead (then set ${WEIGHTS_DIR_ENV}=DIR to use it)
  --url URL    download from this folder URL (a mirror) instead of the pinned GitHub commit;
               STYLIZE_WEIGHTS_URL does the same
  --verify     download nothing; check the hashes of the weights in use (or in --dest)
`;

async function verify(dest: string | undefined): Promise<number> {
  let dir: string;
  let where: string;
  if (dest) {
    dir = path.resolve(dest);
    where = dir;
  } else {
    const loc = locateWeights();
    dir = loc.dir;
    where = `${dir} (${loc.origin === 'env' ? WEIGHTS_DIR_ENV : loc.origin})`;
  }
  const results = await verifyWeights(dir);
  const bad = results.filter((r) => !r.ok);
  for (const r of bad) process.stdout.write(`  BAD  ${r.file}: ${r.problem}\n`);
  if (bad.length === 0) {
    process.stdout.write(`All ${results.length} weight files in ${where} match their SHA-256.\n`);
    return 0;
  }
  process.stdout.write(
    `${bad.length} of ${results.length} weight files in ${where} are missing or damaged. ` +
      `Run \`npx stylize weights${dest ? ` --dest "${dest}"` : ''}\` to fetch them (good files are kept).\n`,
  );
  return 1;
}

async function download(dest: string | undefined, url: string | undefined): Promise<number> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = progressReporter();
  try {
    const result = await downloadWeights({ dest, baseUrl: url, signal: controller.signal, onProgress: progress.onProgress });
    progress.stop();
    process.stdout.write(
      `Weights ready in ${result.dir} (${result.downloaded.length} downloaded, ${result.skipped.length} already present and verified).\n`,
    );
    // Say which folder the companion will actually read, since STYLIZE_WEIGHTS or --dest may differ from it.
    try {
      const used = locateWeights();
      if (path.resolve(used.dir) !== path.resolve(result.dir)) {
        process.stdout.write(
          used.origin === 'env'
            ? `Note: ${WEIGHTS_DIR_ENV} points to ${used.dir}, so the companion will use that folder, not these.\n`
            : `Note: the companion looks in ${WEIGHTS_DIR_ENV}, then ${weightsCacheDir()}; to use these, set ${WEIGHTS_DIR_ENV}="${result.dir}".\n`,
        );
      }
    } catch (err) {
      process.stdout.write(`Warning: ${(err as Error).message}\n`);
    }
    return 0;
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
  }
}

/** Runs `stylize weights ...` (argv excludes "weights"); returns the exit code. */
export async function runWeightsCommand(argv: string[]): Promise<number> {
  let values: { dest?: string; url?: string; verify?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dest: { type: 'string' },
        url: { type: 'string' },
        verify: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    const first = (err as Error).message.split('\n')[0].split('. To specify')[0].replace(/\.?$/, '.');
    process.stderr.write(`stylize weights: ${first} ${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help());
    return 0;
  }
  if (values.dest !== undefined && values.dest.trim() === '') {
    process.stderr.write(`stylize weights: --dest needs a folder path. ${USAGE}\n`);
    return 2;
  }
  try {
    return values.verify ? await verify(values.dest) : await download(values.dest, values.url);
  } catch (err) {
    if (err instanceof StylizeError) {
      process.stderr.write(`stylize weights: ${err.message}\n`);
      return err.code === 'cancelled' ? 130 : 1;
    }
    throw err;
  }
}
