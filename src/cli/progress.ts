/**
 * A progress line on stderr for long work: redrawn in place on a terminal,
 * printed at every tenth otherwise (logs and CI stay readable).
 */
export interface Progress {
  update(done: number, total: number): void;
  finish(message?: string): void;
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  let lastTenth = -1;
  return {
    update(done, total) {
      const fraction = total === 0 ? 1 : Math.min(1, done / total);
      if (tty) {
        const width = 30;
        const filled = Math.round(fraction * width);
        stream.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.round(fraction * 100)}% ${done}/${total}`);
      } else {
        const tenth = Math.floor(fraction * 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          stream.write(`${label}: ${Math.round(fraction * 100)}% (${done}/${total})\n`);
        }
      }
    },
    finish(message) {
      if (tty) stream.write("\n");
      if (message) stream.write(`${message}\n`);
    },
  };
}
