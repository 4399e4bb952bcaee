/** The daemon's log: one line per event, time-stamped; warnings and errors to stderr. */

export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

export const consoleLogger: Logger = {
  info: (line) => process.stdout.write(`${stamp()} ${line}\n`),
  warn: (line) => process.stderr.write(`${stamp()} warning: ${line}\n`),
  error: (line) => process.stderr.write(`${stamp()} error: ${line}\n`),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** Lines of one shape allowed per window before the rest are only counted. */
const REPEAT_BURST = 10;
const REPEAT_WINDOW_MS = 10_000;

/**
 * A logger that lets through at most `burst` lines of one shape per window (the shape is the line
 * with its numbers and ids blanked), then counts the rest and reports the count once the window
 * ends. A client that fails on purpose thousands of times a second cannot fill the disk.
 * Only warnings and errors are gated: that is where refusals of clients without the token go.
 * Info lines (pairing, jobs, saves) need the token and are bounded by the queue, and a job's
 * "done" is a record the user may look for, so none is ever dropped.
 */
export function limitRepeats(log: Logger, burst = REPEAT_BURST, windowMs = REPEAT_WINDOW_MS): Logger {
  const shapes = new Map<string, { count: number; suppressed: number; timer: NodeJS.Timeout }>();
  const gate = (level: keyof Logger) => (line: string) => {
    const shape = `${level} ${line.replace(/[0-9a-f]*\d[0-9a-f]*/gi, '#')}`;
    let s = shapes.get(shape);
    if (!s) {
      const timer = setTimeout(() => {
        shapes.delete(shape);
        if (s!.suppressed > 0) log[level](`${s!.suppressed} more like this were not logged in the last ${windowMs / 1000} s: ${line}`);
      }, windowMs);
      timer.unref();
      s = { count: 0, suppressed: 0, timer };
      shapes.set(shape, s);
    }
    if (++s.count <= burst) log[level](line);
    else s.suppressed++;
  };
  return { info: (line) => log.info(line), warn: gate('warn'), error: gate('error') };
}
