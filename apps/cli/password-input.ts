// Passwords reach the CLI on standard input or from the terminal, never in argv: a command line
// stays in shell history, and every local user can read it in `ps` and /proc/<pid>/cmdline while
// the command runs (the embedded PostgreSQL's start included).
import { UsageError } from './output.ts';

/** Longer than any password the services accept, so a runaway pipe is not read to its end. */
const MAX_LINE_BYTES = 4096;

/**
 * The password, asked for on the terminal when there is one; otherwise the first line of standard
 * input, but only when the caller said so (`--password-stdin`), so that a script that forgot
 * fails at once instead of waiting on a pipe nobody writes to.
 */
export async function readPassword({ fromStdin }: { fromStdin: boolean }): Promise<string> {
  if (process.stdin.isTTY) return askTwice();
  if (!fromStdin) throw new UsageError('no password: pass it on standard input with --password-stdin, or run on a terminal to be asked for it');
  const line = await firstLine(process.stdin);
  if (!line) throw new UsageError('--password-stdin: the first line of standard input is empty');
  return line;
}

async function firstLine(input: NodeJS.ReadStream): Promise<string> {
  let text = '';
  input.setEncoding('utf8');
  for await (const chunk of input) {
    text += chunk;
    if (text.includes('\n') || Buffer.byteLength(text) > MAX_LINE_BYTES) break;
  }
  return text.split('\n')[0].replace(/\r$/, '');
}

async function askTwice(): Promise<string> {
  const password = await ask('Password: ');
  if ((await ask('Repeat password: ')) !== password) throw new UsageError('the two passwords typed differ');
  return password;
}

/** Reads one line from the terminal in raw mode, so nothing typed is echoed. */
function ask(prompt: string): Promise<string> {
  const { stdin, stderr } = process;
  return new Promise((resolve, reject) => {
    let typed = '';
    const restore = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stderr.write('\n');
    };
    const finish = () => {
      restore();
      stdin.pause();
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        switch (char) {
          case '\r':
          case '\n':
            finish();
            return resolve(typed);
          case '\u0003': // Ctrl-C arrives as a character in raw mode: raise the signal it stands for.
            restore(); // stdin stays open, so the process lives until the signal is handled
            process.kill(process.pid, 'SIGINT');
            return;
          case '\u0004': // Ctrl-D
            if (typed) break;
            finish();
            return reject(new UsageError('no password typed'));
          case '\u007f':
          case '\b':
            typed = [...typed].slice(0, -1).join('');
            break;
          default:
            typed += char;
        }
      }
    };
    // Raw mode before the prompt: whatever is typed the moment the prompt shows is never echoed.
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    stderr.write(prompt);
  });
}
