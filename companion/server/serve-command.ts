/**
 * `stylize serve` (npm start): starts the companion daemon, prints one block saying what runs where
 * and how to pair the plugin, and stops cleanly on Ctrl+C / SIGTERM.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PROTOCOL_VERSION } from '../../protocol/messages.ts';
import { StylizeError } from '../engine/errors.ts';
import { WEIGHTS_DIR_ENV, locateWeights, weightsCacheDir } from '../../weights/locate.ts';
import { progressReporter } from '../../weights/progress.ts';
import { WeightsPreparation } from './weights-preparation.ts';
import { Daemon, DaemonStartError, hostForUrl } from './daemon.ts';
import { consoleLogger, type Logger } from './log.ts';
import { isLoopbackHost, parseServeArgs, serveUsage, UsageError, type DaemonOptions } from './options.ts';
import { PROJECT_ROOT, companionVersion, tildify } from './paths.ts';
import { PHOTOPEA_PATH } from './photopea-page.ts';

export async function runServe(argv: string[], log: Logger = consoleLogger): Promise<number> {
  let opts: DaemonOptions;
  try {
    const parsed = parseServeArgs(argv);
    if (parsed.help) {
      process.stdout.write(serveUsage() + '\n');
      return 0;
    }
    opts = parsed.options;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`stylize serve: ${err.message}\n`);
    return 2;
  }

  if (!isLoopbackHost(opts.host)) {
    log.warn(
      `listening on ${opts.host}, not on loopback: other machines can reach this companion. ` +
      'Every client still needs the pairing token; only do this on a network you trust.',
    );
  }
  const weights = findWeights(opts);
  if (weights === 'fail') return 1;
  const prep = weights === 'download' ? preparation(log) : undefined;

  process.stdout.write(`Starting the Stylize companion ${companionVersion()}: ${prep ? 'getting the style model first' : 'loading the engine'}...\n`);
  let stopped: Promise<number> | undefined;
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(opts, log, prep && {
      preparation: prep.preparation,
      onListening: (d) => {
        stopped = stopOnSignals(d, log);
        process.stdout.write(preparingBanner(d, prep.dest));
      },
    });
  } catch (err) {
    prep?.progress.stop();
    if (!(err instanceof DaemonStartError)) throw err;
    if (err.code === 'stopped') return stopped ?? 0;
    process.stderr.write(`stylize serve: ${err.message}\n`);
    if (err.code === 'weights_missing' || err.code === 'weights_corrupt') {
      process.stderr.write('Run `npx stylize weights` to download (or repair) the weights, then start again. `npx stylize doctor` checks everything.\n');
    }
    return 1;
  }
  prep?.progress.stop();
  process.stdout.write(banner(daemon));
  return stopped ?? stopOnSignals(daemon, log);
}

/** Ctrl+C / SIGTERM stop the daemon cleanly (a second one exits at once); resolves with the exit code. */
function stopOnSignals(daemon: Daemon, log: Logger): Promise<number> {
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn(`${signal} again: exiting without waiting.`);
        process.exit(130);
      }
      log.info(`${signal}: stopping (cancelling the running job, telling clients)...`);
      void daemon.stop('shutting down').then(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        log.info('stopped; the port is released.');
        // Everything is closed; if some handle still holds the loop, do not hang the terminal.
        setTimeout(() => process.exit(0), 3000).unref();
        resolve(0);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Where the weights come from: found ('ok'), to be downloaded while serving ('download'), or an
 * explicit setting that is wrong ('fail': the user meant that folder, so it is reported, not replaced).
 */
function findWeights(opts: DaemonOptions): 'ok' | 'download' | 'fail' {
  if (opts.weightsDir !== undefined) {
    if (existsSync(path.join(opts.weightsDir, 'model.json'))) return 'ok';
    process.stderr.write(`stylize serve: --weights ${opts.weightsDir} has no model.json. Point it at the VGG-19 weights folder, or drop --weights to use the downloaded ones (\`npx stylize weights\`).\n`);
    return 'fail';
  }
  try {
    locateWeights();
    return 'ok';
  } catch (err) {
    if (!(err instanceof StylizeError)) throw err;
    if (process.env[WEIGHTS_DIR_ENV]?.trim()) {
      process.stderr.write(`stylize serve: ${err.message}\n`);
      return 'fail';
    }
    return 'download';
  }
}

/** The first-start download: into the cache, a bar on the terminal, retried until it works. */
function preparation(log: Logger): { preparation: WeightsPreparation; progress: { stop(): void }; dest: string } {
  const dest = weightsCacheDir();
  const progress = progressReporter();
  const retry = Number(process.env[RETRY_ENV]);
  const preparation = new WeightsPreparation({
    dest,
    log,
    onProgress: progress.onProgress,
    ...(Number.isFinite(retry) && retry > 0 && { firstRetryMs: retry }),
  });
  return { preparation, progress, dest };
}

/** Env var: first wait (ms) before retrying a failed first-start download (default 5000, doubling to 5 min). */
const RETRY_ENV = 'STYLIZE_WEIGHTS_RETRY_MS';

function preparingBanner(d: Daemon, dest: string): string {
  const i = d.info;
  const host = hostForUrl(i.host);
  return [
    '',
    `The VGG-19 weights are not on this machine yet: downloading them (about 21 MB, checksummed) into ${tildify(dest)}.`,
    `  Address   ws://${host}:${i.port}   (health check: http://${host}:${i.port}/health says "preparing" with a percentage)`,
    `  Token     ${i.token}   (${i.tokenCreated ? 'new, ' : ''}stored in ${tildify(i.tokenFile)}, mode 0600)`,
    '  The plugin can pair now; Stylize works once the model is ready. Ctrl+C stops (the download resumes next time).',
    '',
  ].join('\n');
}

function banner(d: Daemon): string {
  const i = d.info;
  const b = d.engine.backend;
  const host = hostForUrl(i.host);
  const lines = [
    '',
    `Stylize companion ${companionVersion()} (protocol ${PROTOCOL_VERSION})`,
    `  Backend   ${b.name} on ${b.device}  (${b.reason}; engine loaded in ${(d.engine.createMs / 1000).toFixed(1)} s${d.opts.warmup ? `, warmed up in ${(d.engine.warmupMs / 1000).toFixed(1)} s` : ''})`,
    ...b.skipped.map((s) => `            not ${s.name}: ${s.reason}`),
    `  Address   ws://${host}:${i.port}   (health check: http://${host}:${i.port}/health)`,
    `  Token     ${i.token}   (${i.tokenCreated ? 'new, ' : ''}stored in ${tildify(i.tokenFile)}, mode 0600)`,
    `  Styles    ${i.styleCount}: the built-in paintings, then yours in ${tildify(i.styleLibrary)}`,
    `  Plugin    In Figma: Plugins > Development > Import plugin from manifest..., choose`,
    `            ${path.join(PROJECT_ROOT, 'manifest.json')}; run Stylize and paste the token when it asks.`,
    `            In Photopea: http://${host}:${i.port}${PHOTOPEA_PATH}/plugin.json is the plugin entry for Window > Plugins (see docs/photopea.md).`,
    ...(d.opts.allowOrigins.length ? [`  Origins   also allowed: ${d.opts.allowOrigins.join(', ')}`] : []),
    '',
    'Ready. Leave this running; Ctrl+C stops it. `npx stylize doctor` checks the set-up.',
    '',
  ];
  return lines.join('\n');
}

// Run directly: `npx tsx companion/server/serve-command.ts [options]` (the CLI's `serve` calls runServe).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runServe(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
