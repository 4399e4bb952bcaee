/**
 * `stylize service install|status|stop|uninstall`: runs the companion in the background, started at
 * every login (systemd user unit, launchd agent, or a Windows Startup script), its log in the config folder.
 */
import http from 'node:http';
import { ServiceManager } from '../service/service-manager.ts';
import { parseServeArgs } from '../server/options.ts';
import { tildify } from '../server/paths.ts';

const USAGE = `Usage: stylize service install|status|stop|uninstall

  install    start the companion now and at every login, in the background (log: ~/.config/stylize/companion.log);
             STYLIZE_* variables set in this shell (STYLIZE_PORT, STYLIZE_WEIGHTS, ...) are kept for it
  status     say whether it is installed and running
  stop       stop it until the next login (or \`stylize service install\` again)
  uninstall  stop it and remove it from the login items (the log file stays)

See docs/service.md.`;

/** Whether a companion answers /health on the configured port. */
export function companionAnswers(port = parseServeArgs([]).options.port): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode === 200 || res.statusCode === 503); });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

export async function runServiceCommand(argv: string[]): Promise<number> {
  const action = argv[0];
  if (action === undefined || action === '--help' || action === '-h' || argv.length > 1) {
    process.stdout.write(USAGE + '\n');
    return action === '--help' || action === '-h' ? 0 : 2;
  }
  let m: ServiceManager;
  try {
    m = new ServiceManager();
  } catch (err) {
    process.stderr.write(`stylize service: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    switch (action) {
      case 'install': {
        const notes = await m.install();
        for (const n of notes) process.stdout.write(`  note: ${n}\n`);
        process.stdout.write(`Installed: ${tildify(m.file)}\nThe companion now runs in the background and starts at every login. Log: ${tildify(m.spec.logFile)}\n` +
          'Its pairing token is in ~/.config/stylize/token. `npx stylize service status` checks it.\n');
        return 0;
      }
      case 'status': {
        const s = await m.status(() => companionAnswers());
        process.stdout.write(`${s.installed ? `installed (${tildify(s.file)})` : 'not installed'}; ${s.running ? 'running' : 'not running'}` +
          `${s.managerSays ? ` (${s.managerSays})` : ''}. Log: ${tildify(s.logFile)}\n`);
        return s.installed && s.running ? 0 : 3;
      }
      case 'stop':
        await m.stop();
        process.stdout.write('Stopped. It starts again at the next login; `npx stylize service uninstall` removes it for good.\n');
        return 0;
      case 'uninstall': {
        const notes = await m.uninstall();
        for (const n of notes) process.stdout.write(`  note: ${n}\n`);
        process.stdout.write(`Removed ${tildify(m.file)}; the companion no longer starts at login. The log stays in ${tildify(m.spec.logFile)}.\n`);
        return 0;
      }
      default:
        process.stderr.write(`stylize service: unknown action "${action}". ${USAGE.split('\n')[0]}\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`stylize service ${action}: ${(err as Error).message}\n`);
    return 1;
  }
}
