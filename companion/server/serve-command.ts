/**
 * `stylize serve` (npm start): starts the companion daemon, prints one block saying what runs where
 * and how to pair the plugin, and stops cleanly on Ctrl+C / SIGTERM.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { PROTOCOL_VERSION } from '../../protocol/messages.ts';
import { StylizeError } from '../engine/errors.ts';
import { locateWeights } from '../../weights/locate.ts';
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
  if (!(await ensureWeights(opts, log))) return 1;

  process.stdout.write(`Starting the Stylize companion ${companionVersion()}: loading the engine...\n`);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(opts, log);
  } catch (err) {
    if (!(err instanceof DaemonStartError)) throw err;
    process.stderr.write(`stylize serve: ${err.message}\n`);
    if (err.code === 'weights_missing' || err.code === 'weights_corrupt') {
      process.stderr.write('Run `npx stylize weights` to download (or repair) the weights, then start again. `npx stylize doctor` checks everything.\n');
    }
    return 1;
  }
  process.stdout.write(banner(daemon));

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

/** Finds the weights before anything loads; offers the download when a person is at the terminal. */
async function ensureWeights(opts: DaemonOptions, log: Logger): Promise<boolean> {
  if (opts.weightsDir !== undefined) {
    if (existsSync(path.join(opts.weightsDir, 'model.json'))) return true;
    process.stderr.write(`stylize serve: --weights ${opts.weightsDir} has no model.json. Point it at the VGG-19 weights folder, or drop --weights to use the downloaded ones (\`npx stylize weights\`).\n`);
    return false;
  }
  try {
    locateWeights();
    return true;
  } catch (err) {
    if (!(err instanceof StylizeError)) throw err;
    process.stderr.write(`${err.message}\n`);
    if (!process.stdin.isTTY || !process.stdout.isTTY) return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = (await rl.question('Download the VGG-19 weights now (about 21 MB)? [Y/n] ')).trim().toLowerCase();
  rl.close();
  if (answer !== '' && answer !== 'y' && answer !== 'yes') return false;
  try {
    const { downloadWeights } = await import('../../weights/download.ts');
    let last = -1;
    const result = await downloadWeights({
      onProgress: (p) => {
        const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 0;
        if (pct !== last) process.stdout.write(`\r  downloading weights: ${pct}%`);
        last = pct;
      },
    });
    process.stdout.write(`\r  weights ready in ${tildify(result.dir)}\n`);
    return true;
  } catch (err) {
    process.stdout.write('\n');
    log.error(`the download failed: ${(err as Error).message}`);
    return false;
  }
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
    `  Styles    ${i.styleCount} in ${tildify(i.styleLibrary)}`,
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
