/**
 * `stylize service`: what each platform's writer produces for paths with spaces (and characters the
 * formats treat specially), where the file goes, and which manager commands each action runs. On
 * Linux the unit is checked by systemd itself (`systemd-analyze verify`) where that is installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { launchdPlist, serviceFilePath, systemdUnit, windowsStartupScript, type ServiceSpec } from '../companion/service/service-files.ts';
import { defaultServiceSpec, managerCommands } from '../companion/service/service-manager.ts';

const run = promisify(execFile);

const SPEC: ServiceSpec = {
  node: '/opt/node js/bin/node',
  script: '/home/ann lee/My Stylize/bin/stylize.js',
  args: ['serve'],
  workingDir: '/home/ann lee/My Stylize',
  logFile: '/home/ann lee/.config/stylize/companion.log',
  env: { STYLIZE_PORT: '7850', STYLIZE_WEIGHTS: '/data/w 100%/$HOME "x"' },
};

const WIN: ServiceSpec = {
  node: 'C:\\Program Files\\nodejs\\node.exe',
  script: 'C:\\Users\\Ann Lee\\My Stylize (copy)\\bin\\stylize.js',
  args: ['serve'],
  workingDir: 'C:\\Users\\Ann Lee\\My Stylize (copy)',
  logFile: 'C:\\Users\\Ann Lee\\AppData\\Roaming\\stylize\\companion.log',
  env: { STYLIZE_PORT: '7850' },
};

function which(cmd: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${cmd}`]).then(() => true, () => false);
}

test('systemd unit: each ExecStart word quoted, % and $ escaped, log appended under the config folder', () => {
  const unit = systemdUnit(SPEC);
  const line = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`));
  assert.deepEqual(line('ExecStart'), ['ExecStart="/opt/node js/bin/node" "/home/ann lee/My Stylize/bin/stylize.js" "serve"']);
  assert.deepEqual(line('WorkingDirectory'), ['WorkingDirectory=/home/ann lee/My Stylize']);
  assert.deepEqual(line('Environment'), ['Environment="STYLIZE_PORT=7850"', 'Environment="STYLIZE_WEIGHTS=/data/w 100%%/$$HOME \\"x\\""']);
  assert.deepEqual(line('StandardOutput'), ['StandardOutput=append:/home/ann lee/.config/stylize/companion.log']);
  assert.deepEqual(line('StandardError'), ['StandardError=append:/home/ann lee/.config/stylize/companion.log']);
  assert.deepEqual(line('WantedBy'), ['WantedBy=default.target']);
  assert.deepEqual(line('Restart'), ['Restart=on-failure']);
});

test('systemd-analyze verify accepts the unit for a checkout in a folder with spaces', async (t) => {
  if (!(await which('systemd-analyze'))) return t.skip('systemd-analyze is not installed here (apt package systemd)');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stylize svc '));
  try {
    const nodeDir = path.join(dir, 'node js', 'bin');
    await mkdir(nodeDir, { recursive: true });
    await symlink(process.execPath, path.join(nodeDir, 'node'));
    await mkdir(path.join(dir, 'My Stylize', 'bin'), { recursive: true });
    await writeFile(path.join(dir, 'My Stylize', 'bin', 'stylize.js'), '');
    const spec: ServiceSpec = {
      node: path.join(nodeDir, 'node'), script: path.join(dir, 'My Stylize', 'bin', 'stylize.js'), args: ['serve'],
      workingDir: path.join(dir, 'My Stylize'), logFile: path.join(dir, 'log dir', 'companion.log'), env: { STYLIZE_PORT: '7850' },
    };
    const file = path.join(dir, 'stylize-companion.service');
    await writeFile(file, systemdUnit(spec));
    // System mode: --user needs a running user manager, which a CI container does not have.
    const r = await run('systemd-analyze', ['verify', file]).then(() => ({ ok: true, out: '' }), (e: { stderr: string }) => ({ ok: false, out: e.stderr }));
    assert.ok(r.ok, `systemd-analyze verify failed:\n${r.out}\n${systemdUnit(spec)}`);
    // The same unit with the ExecStart words unquoted is refused: the check does see the spaces.
    await writeFile(file, systemdUnit(spec).replace(/^ExecStart=.*$/m, `ExecStart=${spec.node} ${spec.script} serve`));
    await assert.rejects(run('systemd-analyze', ['verify', file]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('launchd agent: one ProgramArguments string per word (no shell), XML-escaped, runs at load, log paths', () => {
  const plist = launchdPlist({ ...SPEC, workingDir: '/Users/ann lee/R&D <stylize>' });
  assert.match(plist, /<key>Label<\/key>\n {2}<string>com\.stylize\.companion<\/string>/);
  assert.match(plist, /<array>\n {4}<string>\/opt\/node js\/bin\/node<\/string>\n {4}<string>\/home\/ann lee\/My Stylize\/bin\/stylize\.js<\/string>\n {4}<string>serve<\/string>\n {2}<\/array>/);
  assert.match(plist, /<key>WorkingDirectory<\/key>\n {2}<string>\/Users\/ann lee\/R&amp;D &lt;stylize&gt;<\/string>/);
  assert.match(plist, /<key>STYLIZE_WEIGHTS<\/key>\n {4}<string>\/data\/w 100%\/\$HOME &quot;x&quot;<\/string>/);
  assert.match(plist, /<key>StandardOutPath<\/key>\n {2}<string>\/home\/ann lee\/\.config\/stylize\/companion\.log<\/string>/);
  assert.match(plist, /<key>StandardErrorPath<\/key>/);
  assert.match(plist, /<key>RunAtLoad<\/key>\n {2}<true\/>/);
});

test('launchd agent is a valid plist where plutil exists', async (t) => {
  if (!(await which('plutil'))) return t.skip('plutil (macOS) is not installed here');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stylize-plist-'));
  try {
    const file = path.join(dir, 'a.plist');
    await writeFile(file, launchdPlist(SPEC));
    await run('plutil', ['-lint', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Windows Startup script: hidden window, cmd quoting survives spaces and parentheses, CRLF lines', () => {
  const vbs = windowsStartupScript(WIN);
  const lines = vbs.split('\r\n');
  assert.ok(vbs.endsWith('\r\n') && !/[^\r]\n/.test(vbs), 'CRLF line ends');
  assert.equal(lines[1], 'Set shell = CreateObject("WScript.Shell")');
  assert.equal(lines[2], 'shell.CurrentDirectory = "C:\\Users\\Ann Lee\\My Stylize (copy)"');
  assert.equal(lines[3], 'shell.Environment("Process")("STYLIZE_PORT") = "7850"');
  // VBScript doubles the quotes; cmd /c strips the outer pair and runs the rest as one line.
  assert.equal(lines[4], 'shell.Run "cmd /d /c """"C:\\Program Files\\nodejs\\node.exe"" ""C:\\Users\\Ann Lee\\My Stylize (copy)\\bin\\stylize.js"" serve >> ""C:\\Users\\Ann Lee\\AppData\\Roaming\\stylize\\companion.log"" 2>&1""", 0, False');
  assert.throws(() => windowsStartupScript({ ...WIN, workingDir: 'C:\\100% real' }), /contains %/);
});

test('where each file goes', () => {
  assert.equal(serviceFilePath('linux', {}, '/home/ann lee'), '/home/ann lee/.config/systemd/user/stylize-companion.service');
  assert.equal(serviceFilePath('linux', { XDG_CONFIG_HOME: '/cfg x' }, '/home/a'), '/cfg x/systemd/user/stylize-companion.service');
  assert.equal(serviceFilePath('darwin', {}, '/Users/ann lee'), '/Users/ann lee/Library/LaunchAgents/com.stylize.companion.plist');
  assert.equal(serviceFilePath('win32', { APPDATA: 'C:\\Users\\Ann Lee\\AppData\\Roaming' }, 'C:\\Users\\Ann Lee'),
    'C:\\Users\\Ann Lee\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\Stylize companion.vbs');
});

test('manager commands per platform and action', () => {
  assert.deepEqual(managerCommands('linux', 'install', 'f', 1000), [['systemctl', '--user', 'daemon-reload'], ['systemctl', '--user', 'enable', '--now', 'stylize-companion.service']]);
  assert.deepEqual(managerCommands('linux', 'stop', 'f', 1000), [['systemctl', '--user', 'stop', 'stylize-companion.service']]);
  assert.deepEqual(managerCommands('linux', 'uninstall', 'f', 1000), [['systemctl', '--user', 'disable', '--now', 'stylize-companion.service']]);
  assert.deepEqual(managerCommands('darwin', 'install', '/U/a b.plist', 501), [['launchctl', 'bootout', 'gui/501/com.stylize.companion'], ['launchctl', 'bootstrap', 'gui/501', '/U/a b.plist']]);
  assert.deepEqual(managerCommands('darwin', 'stop', 'f', 501), [['launchctl', 'kill', 'SIGTERM', 'gui/501/com.stylize.companion']]);
  assert.deepEqual(managerCommands('win32', 'install', 'C:\\s t\\x.vbs', 0), [['wscript.exe', 'C:\\s t\\x.vbs']]);
  const stop = managerCommands('win32', 'stop', 'f', 0)[0];
  assert.equal(stop[0], 'powershell.exe');
  assert.match(stop[stop.length - 1], /Stop-Process/);
});

test('the default spec runs this checkout with this Node.js, logs under the config folder, keeps STYLIZE_* settings only', () => {
  const spec = defaultServiceSpec({ HOME: '/home/ann lee', STYLIZE_PORT: '7850', STYLIZE_EMPTY: '', PATH: '/bin' });
  assert.equal(spec.node, process.execPath);
  assert.match(spec.script, /bin[/\\]stylize\.js$/);
  assert.deepEqual(spec.args, ['serve']);
  assert.equal(spec.logFile, '/home/ann lee/.config/stylize/companion.log');
  assert.deepEqual(spec.env, { STYLIZE_PORT: '7850' });
});
