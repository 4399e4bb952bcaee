/**
 * What `stylize service install` writes, per platform, as pure functions of a ServiceSpec: a systemd
 * user unit (Linux), a launchd agent (macOS), a Startup-folder script (Windows). Nothing here touches
 * the disk or runs anything (service-manager.ts does), so each writer's output is tested as text.
 */
import path from 'node:path';

export type ServicePlatform = 'linux' | 'darwin' | 'win32';

/** How the companion is started in the background. */
export interface ServiceSpec {
  /** Absolute path of the Node.js binary. */
  node: string;
  /** Absolute path of bin/stylize.js. */
  script: string;
  /** Arguments after the script, e.g. ["serve"]. */
  args: string[];
  /** The repository root (working folder). */
  workingDir: string;
  /** Where stdout and stderr go (under the config folder). */
  logFile: string;
  /** STYLIZE_* settings carried over from the shell that installed it. */
  env: Record<string, string>;
}

export const SERVICE_NAME = 'stylize-companion';
export const LAUNCHD_LABEL = 'com.stylize.companion';
export const WINDOWS_STARTUP_NAME = 'Stylize companion.vbs';

/** Where each platform's file goes, from the user's home / config folders. */
export function serviceFilePath(platform: ServicePlatform, env: NodeJS.ProcessEnv, home: string): string {
  switch (platform) {
    case 'linux': {
      const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, '.config');
      return path.posix.join(config, 'systemd', 'user', `${SERVICE_NAME}.service`);
    }
    case 'darwin':
      return path.posix.join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
    case 'win32': {
      const appData = env.APPDATA ?? path.win32.join(home, 'AppData', 'Roaming');
      return path.win32.join(appData, 'Microsoft', 'Windows', 'Start Menu', 'Programs', 'Startup', WINDOWS_STARTUP_NAME);
    }
  }
}

// ---- systemd ------------------------------------------------------------------------------------

/** One ExecStart=/Environment= word: quoted, with systemd's specifier (%) and variable ($) expansion escaped. */
function systemdWord(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** A path in a setting that takes the rest of the line (no quoting), with specifiers escaped. */
function systemdPath(s: string): string {
  if (/[\n\r]/.test(s)) throw new Error(`The path ${JSON.stringify(s)} contains a line break; systemd cannot use it.`);
  return s.replace(/%/g, '%%');
}

export function systemdUnit(spec: ServiceSpec): string {
  const exec = [spec.node, spec.script, ...spec.args].map(systemdWord).join(' ');
  const env = Object.entries(spec.env).map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}\n`).join('');
  return `# Written by \`stylize service install\`; \`stylize service uninstall\` removes it.
[Unit]
Description=Stylize companion (neural style transfer for the Figma and Photopea plugins)
Documentation=file://${systemdPath(path.posix.join(spec.workingDir, 'docs', 'service.md'))}

[Service]
Type=simple
ExecStart=${exec}
WorkingDirectory=${systemdPath(spec.workingDir)}
${env}StandardOutput=append:${systemdPath(spec.logFile)}
StandardError=append:${systemdPath(spec.logFile)}
Restart=on-failure
RestartSec=10

[Install]
WantedBy=default.target
`;
}

// ---- launchd ------------------------------------------------------------------------------------

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function launchdPlist(spec: ServiceSpec): string {
  const args = [spec.node, spec.script, ...spec.args].map((a) => `    <string>${xml(a)}</string>\n`).join('');
  const envEntries = Object.entries(spec.env);
  const env = envEntries.length
    ? `  <key>EnvironmentVariables</key>\n  <dict>\n${envEntries.map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>\n`).join('')}  </dict>\n`
    : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`stylize service install\`; \`stylize service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}  </array>
  <key>WorkingDirectory</key>
  <string>${xml(spec.workingDir)}</string>
${env}  <key>StandardOutPath</key>
  <string>${xml(spec.logFile)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(spec.logFile)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
</dict>
</plist>
`;
}

// ---- Windows ------------------------------------------------------------------------------------

/** A VBScript string literal: quotes doubled. */
function vbs(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * A script in the user's Startup folder: Windows runs it at login; it starts the companion with no
 * window (WScript.Shell.Run, style 0) through cmd, which appends both streams to the log file.
 */
export function windowsStartupScript(spec: ServiceSpec): string {
  for (const p of [spec.node, spec.script, spec.workingDir, spec.logFile, ...spec.args]) {
    // cmd expands %VAR% even inside quotes, and no Windows path may hold a double quote.
    if (/[%"\r\n]/.test(p)) throw new Error(`${JSON.stringify(p)} contains %, a quote or a line break, which a Windows start-up command cannot carry. Move Stylize (or Node.js) to a folder without them.`);
  }
  const q = (s: string) => `"${s}"`;
  const command = `cmd /d /c "${[spec.node, spec.script].map(q).join(' ')} ${spec.args.join(' ')} >> ${q(spec.logFile)} 2>&1"`;
  const env = Object.entries(spec.env).map(([k, v]) => `shell.Environment("Process")(${vbs(k)}) = ${vbs(v)}\r\n`).join('');
  return `' Written by \`stylize service install\`; \`stylize service uninstall\` removes it.\r
Set shell = CreateObject("WScript.Shell")\r
shell.CurrentDirectory = ${vbs(spec.workingDir)}\r
${env}shell.Run ${vbs(command)}, 0, False\r
`;
}

export function serviceFile(platform: ServicePlatform, spec: ServiceSpec): string {
  return platform === 'linux' ? systemdUnit(spec) : platform === 'darwin' ? launchdPlist(spec) : windowsStartupScript(spec);
}
