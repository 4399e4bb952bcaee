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
