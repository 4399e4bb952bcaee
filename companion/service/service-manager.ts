/**
 * The side-effecting half of `stylize service`: writes or removes the file service-files.ts makes and
 * asks the platform's service manager (systemctl --user, launchctl, or nothing on Windows) to start,
 * stop or report on it. The commands for each action are a pure function, tested on every platform.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configDir, PROJECT_ROOT } from '../server/paths.ts';
import { LAUNCHD_LABEL, SERVICE_NAME, serviceFile, serviceFilePath, type ServicePlatform, type ServiceSpec } from './service-files.ts';

export type ServiceAction = 'install' | 'stop' | 'uninstall' | 'status';

export function currentPlatform(): ServicePlatform {
  const p = process.platform;
  if (p === 'linux' || p === 'darwin' || p === 'win32') return p;
  throw new Error(`Running the companion in the background is supported on Linux, macOS and Windows, not on ${p}. Run \`npm start\` in a terminal instead.`);
}

/** The companion as this checkout and this Node.js run it, with the STYLIZE_* settings of this shell. */
export function defaultServiceSpec(env: NodeJS.ProcessEnv = process.env): ServiceSpec {
  const carried = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('STYLIZE_') && !!e[1]));
  return {
    node: process.execPath,
    script: path.join(PROJECT_ROOT, 'bin', 'stylize.js'),
    args: ['serve'],
    workingDir: PROJECT_ROOT,
    logFile: serviceLogFile(env),
    env: carried,
  };
}

export function serviceLogFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'companion.log');
}

/** The service manager's commands for one action (before the file is removed, for uninstall). */
export function managerCommands(platform: ServicePlatform, action: ServiceAction, file: string, uid: number): string[][] {
  const unit = `${SERVICE_NAME}.service`;
  const target = `gui/${uid}/${LAUNCHD_LABEL}`;
  switch (platform) {
    case 'linux':
      return {
        install: [['systemctl', '--user', 'daemon-reload'], ['systemctl', '--user', 'enable', '--now', unit]],
        stop: [['systemctl', '--user', 'stop', unit]],
        uninstall: [['systemctl', '--user', 'disable', '--now', unit]],
        status: [['systemctl', '--user', 'is-active', unit]],
      }[action];
    case 'darwin':
      return {
        // bootout first so a re-install replaces a loaded agent instead of failing with "already loaded".
        install: [['launchctl', 'bootout', target], ['launchctl', 'bootstrap', `gui/${uid}`, file]],
        // The companion exits 0 on SIGTERM, which KeepAlive {SuccessfulExit: false} does not restart.
        stop: [['launchctl', 'kill', 'SIGTERM', target]],
        uninstall: [['launchctl', 'bootout', target]],
        status: [['launchctl', 'print', target]],
      }[action];
    case 'win32': {
      // No service manager: the Startup script starts it at login; stop finds the process by its script path.
      const script = path.win32.join(PROJECT_ROOT, 'bin', 'stylize.js').replace(/'/g, "''");
      const stop = ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command',
        `Get-CimInstance Win32_Process -Filter "Name='node.exe'" | Where-Object { $_.CommandLine -like '*${script}*serve*' } | ForEach-Object { Stop-Process -Id $_.ProcessId }`];
      return { install: [['wscript.exe', file]], stop: [stop], uninstall: [stop], status: [] }[action];
    }
  }
}

function run(cmd: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ ok: !err, out: `${stdout}${stderr}`.trim() || (err ? err.message : '') });
    });
  });
}

export interface ServiceStatus {
  platform: ServicePlatform;
  file: string;
  installed: boolean;
  /** What the service manager says (undefined where there is none, or it cannot be asked). */
  managerSays?: string;
  running: boolean;
  logFile: string;
}

export class ServiceManager {
  readonly file: string;
  constructor(
    readonly platform: ServicePlatform = currentPlatform(),
    readonly spec: ServiceSpec = defaultServiceSpec(),
    env: NodeJS.ProcessEnv = process.env,
    private readonly uid: number = process.getuid?.() ?? 0,
  ) {
    this.file = serviceFilePath(platform, env, os.homedir());
  }

  /** Writes the file (atomically), then has the manager start it now and at every login. */
  async install(): Promise<string[]> {
    const content = serviceFile(this.platform, this.spec);
    await mkdir(path.dirname(this.file), { recursive: true });
    await mkdir(path.dirname(this.spec.logFile), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, this.file);
    return this.runAll(managerCommands(this.platform, 'install', this.file, this.uid));
  }

  async stop(): Promise<string[]> {
    return this.runAll(managerCommands(this.platform, 'stop', this.file, this.uid));
  }

  /** Stops it, removes the file; the log stays. */
  async uninstall(): Promise<string[]> {
    const notes = await this.runAll(managerCommands(this.platform, 'uninstall', this.file, this.uid), false);
    await unlink(this.file).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
    if (this.platform === 'linux') notes.push(...await this.runAll([['systemctl', '--user', 'daemon-reload']], false));
    return notes;
  }

  /** Installed = the file is there; running = the manager says so (or, on Windows, /health answers). */
  async status(healthAnswers: () => Promise<boolean>): Promise<ServiceStatus> {
    const installed = existsSync(this.file);
    let managerSays: string | undefined;
    let running: boolean;
    const cmd = managerCommands(this.platform, 'status', this.file, this.uid)[0];
    if (cmd && installed) {
      const r = await run(cmd);
      managerSays = r.out.split('\n').find((l) => /state =|^(active|inactive|failed|activating)/.test(l.trim()))?.trim() ?? r.out.split('\n')[0];
      running = this.platform === 'linux' ? r.ok && /^active/.test(r.out) : /state = running/.test(r.out);
    } else {
      running = installed && (await healthAnswers());
    }
    return { platform: this.platform, file: this.file, installed, ...(managerSays !== undefined && { managerSays }), running, logFile: this.spec.logFile };
  }

  /** Runs each command; a failure throws when `strict` (an unload of what was not loaded never does), else is a note. */
  private async runAll(cmds: string[][], strict = true): Promise<string[]> {
    const notes: string[] = [];
    for (const cmd of cmds) {
      const r = await run(cmd);
      if (r.ok) continue;
      if (strict && cmd[1] !== 'bootout') throw new Error(`\`${cmd.join(' ')}\` failed: ${r.out}`);
      notes.push(`\`${cmd.join(' ')}\`: ${r.out}`);
    }
    return notes;
  }
}
