// `.env.example` and the README's configuration table, written from the schema (env-schema.ts)
// by `npm run docs:config`; test/config checks that the files in the tree are what this writes.
import { envKeys, sections } from './env-schema.ts';
import { docOf, type Section, type VariableDoc } from './variable.ts';

const width = 100;
const generatedFrom = 'Written by `npm run docs:config` from apps/core/config/env-schema.ts: edit the variables there.';

const envHeader = [
  'Gatehouse configuration. Every variable is optional in development; the values shown are the defaults,',
  'and a variable commented out has none. Copy to .env (read at start) or set them in the environment.',
  'A bad value stops the server with one line naming the variable.',
].join(' ');

/** Words to wrap, a `code span` with its spaces counting as one word. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const word of text.split(/\s+/)) {
    const last = out.at(-1);
    if (last !== undefined && (last.split('`').length - 1) % 2 === 1) out[out.length - 1] = `${last} ${word}`;
    else out.push(word);
  }
  return out;
}

function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of words(text)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

const assignment = (name: string, doc: VariableDoc) => (doc.default === undefined ? `# ${name}=${doc.example ?? ''}` : `${name}=${doc.default}`);

const entries = (section: Section) => Object.entries(section.variables).map(([name, schema]) => ({ name, doc: docOf(schema) }));

export function renderEnvExample(): string {
  const out = [...comment(envHeader), ...comment(generatedFrom)];
  for (const section of sections) {
    out.push('', `# --- ${section.title} `.padEnd(92, '-'));
    if (section.intro) out.push(...comment(section.intro));
    for (const { name, doc } of entries(section)) out.push('', ...comment(doc.description), assignment(name, doc));
  }
  return `${out.join('\n')}\n`;
}

// Variable names in running text read as code in the README; longest first, so that a name is
// never taken for the start of a longer one.
const names = new RegExp(`\\b(${[...envKeys].sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');
const markdown = (text: string) =>
  text
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') ? part : part.replace(names, '`$1`')))
    .join('')
    .replaceAll('|', '\\|');

const defaultCell = (doc: VariableDoc) => {
  if (doc.default === undefined) return markdown(doc.unset ?? 'unset');
  return doc.default === '' ? 'empty' : `\`${doc.default}\``;
};

export function renderConfigTable(): string {
  const out = [`<!-- ${generatedFrom} -->`];
  for (const section of sections) {
    out.push('', `### ${section.title}`, '');
    if (section.intro) out.push(markdown(section.intro), '');
    out.push('| Variable | Default | Meaning |', '|---|---|---|');
    for (const { name, doc } of entries(section)) out.push(`| \`${name}\` | ${defaultCell(doc)} | ${markdown(doc.description)} |`);
  }
  return out.join('\n');
}

export const readmeMarkers = { start: '<!-- config:start -->', end: '<!-- config:end -->' };

/** The README with the text between its configuration markers written anew. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(readmeMarkers.start);
  const end = readme.indexOf(readmeMarkers.end);
  if (start === -1 || end < start)
    throw new Error(`README.md needs ${readmeMarkers.start} and ${readmeMarkers.end}, in that order, around the configuration table`);
  return `${readme.slice(0, start + readmeMarkers.start.length)}\n${renderConfigTable()}\n\n${readme.slice(end)}`;
}
