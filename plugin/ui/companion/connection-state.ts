/**
 * What the designer is told when the connection to the companion ends: a pure function of how it
 * ended (close code, close reason, the companion's last fatal error, its shutdown note), so every
 * close code is unit-tested without a socket. The transport reports; this decides; the client acts.
 */
import { CLOSE_CODES, isErrorCode, type ErrorCode } from '../../../protocol/errors.ts';
import type { CapabilitiesMessage } from '../../../protocol/messages.ts';

export type ConnectionState =
  | { status: 'connecting'; attempt: number }
  | { status: 'connected'; capabilities: CapabilitiesMessage }
  | { status: 'needs-token'; reason: string }
  | { status: 'offline'; reason: string; advice: string; retryAt: number | null };

/** How a connection ended, as far as the window can tell. */
export interface CloseFacts {
  code: number;
  reason: string;
  /** The companion's last error before the close (a fatal one, or one sent before pairing). */
  error: { code: ErrorCode; message: string } | null;
  /** The companion's `shutdown` message, when it said it is stopping. */
  shutdownNote: string | null;
}

/** What to do next: ask for the token, reconnect at once, wait and retry, or ask /health why. */
export type CloseVerdict =
  | { next: 'needs-token'; reason: string }
  | { next: 'reconnect-now' }
  | { next: 'retry'; reason: string; advice: string }
  | { next: 'probe' };

export const START_HINT = 'Start it: open a terminal in the Stylize folder and run “npm start”. The plugin reconnects by itself.';
const KEEPS_TRYING = 'The plugin keeps trying to reconnect.';
const TOKEN_REFUSED = 'The companion did not accept this token. Copy the token it printed at start-up (it is also in ~/.config/stylize/token) and paste it here.';

export function stateAfterClose(facts: CloseFacts): CloseVerdict {
  // The companion closes with its error code as the reason: it names the cause even when the
  // error message itself did not arrive.
  const code: ErrorCode | undefined = facts.error?.code ?? (isErrorCode(facts.reason) ? facts.reason : undefined);
  const said = facts.error?.message;
  if (facts.code === CLOSE_CODES.authFailed || code === 'bad_token' || code === 'auth_required' || code === 'auth_timeout') {
    // No point retrying the same token.
    return { next: 'needs-token', reason: code === 'bad_token' ? TOKEN_REFUSED : said ?? 'The companion needs the pairing token.' };
  }
  if (facts.code === CLOSE_CODES.idle || code === 'idle_timeout') return { next: 'reconnect-now' }; // only closed because nothing happened
  if (facts.code === CLOSE_CODES.protocolMismatch || code === 'protocol_mismatch') {
    return { next: 'retry', reason: said ?? 'The plugin and the companion are different versions.', advice: 'Update both to the same version.' };
  }
  if (facts.code === CLOSE_CODES.tryAgainLater || code === 'too_many_connections') {
    return { next: 'retry', reason: said ?? 'The companion has too many connections.', advice: 'Close other plugin windows that use it.' };
  }
  if (facts.shutdownNote !== null || facts.code === CLOSE_CODES.goingAway || code === 'shutting_down') {
    const note = facts.shutdownNote ? ` (${facts.shutdownNote.replace(/\.$/, '')})` : '';
    return { next: 'retry', reason: `The companion was stopped${note}.`, advice: START_HINT };
  }
  if (said !== undefined) return { next: 'retry', reason: said, advice: KEEPS_TRYING };
  if (facts.code === CLOSE_CODES.policy) {
    return { next: 'retry', reason: `The companion closed the connection after bad requests${code ? ` (${code})` : ''}.`, advice: KEEPS_TRYING };
  }
  if (facts.code === CLOSE_CODES.tooBig) {
    return { next: 'retry', reason: 'The companion closed the connection: a message was over its size limit.', advice: 'Choose a smaller output size or style image, then run Stylize again.' };
  }
  // 1000 or 1006 (browsers hide why a WebSocket failed): only /health can tell "not running" from "refused".
  return { next: 'probe' };
}

/** What /health said when the close itself said nothing. */
export type HealthProbe = { kind: 'down' | 'starting' | 'up' } | { kind: 'refused'; message: string };

export interface ProbeFacts {
  probe: HealthProbe;
  code: number;
  reason: string;
  port: number;
  /** This window was paired with the companion before (this connection or an earlier one). */
  wasConnected: boolean;
}

export function stateAfterProbe(facts: ProbeFacts): { reason: string; advice: string } {
  const { probe, port } = facts;
  switch (probe.kind) {
    case 'down':
      return {
        reason: facts.wasConnected
          ? `Lost the connection: the companion on port ${port} is no longer running.`
          : `The Stylize companion is not running on port ${port}.`,
        advice: `${START_HINT} If it runs on another port, change Port in Settings.`,
      };
    case 'starting':
      return { reason: 'The companion is starting up (loading the model).', advice: 'Wait a moment; the plugin connects by itself.' };
    case 'refused':
      return { reason: `The companion refused the connection: ${probe.message}`, advice: 'See the companion’s terminal for details.' };
    case 'up':
      return {
        reason: `The companion on port ${port} is running but the connection failed (code ${facts.code}${facts.reason ? `, ${facts.reason}` : ''}).`,
        advice: KEEPS_TRYING,
      };
  }
}

/** The port is not one the build's manifest lists: the plugin does not even try. */
export function portNotAllowedWords(address: string, port: number, allowedPorts: readonly number[]): { reason: string; advice: string } {
  const listed = allowedPorts.length ? `port ${allowedPorts.join(' or ')} on ${address}` : 'no companion port';
  return {
    reason: `Figma does not let this plugin reach port ${port}: its manifest.json allows ${listed} only (Figma's content security policy would block the connection; the companion may well be running).`,
    advice: `Choose an allowed port in Settings and run the companion on it (npm start -- --port N), or add "ws://${address}:N" and "http://${address}:N" to networkAccess.allowedDomains in manifest.json, run npm run build and import the plugin again.`,
  };
}

/** The window's policy refused the connection: the manifest Figma imported does not list it. */
export function blockedByPolicyWords(address: string, port: number): { reason: string; advice: string } {
  const where = `${address}:${port}`;
  return {
    reason: `Figma's content security policy blocked the connection to ${where}: the manifest.json Figma imported does not list it (the companion may well be running).`,
    advice: `Make sure networkAccess.allowedDomains in manifest.json lists "ws://${where}" and "http://${where}", run npm run build and import the plugin again (Plugins > Development > Import plugin from manifest…).`,
  };
}
