import type { Command, CommandContext, Noun } from './output.ts';

const migrate: Command<Pick<CommandContext, 'migrate'>> = {
  summary: 'apply pending migrations to DATABASE_URL (or the embedded database)',
  migratesItself: true,
  async run(_input, context) {
    const applied = await context.migrate();
    return {
      text: applied.length ? applied.map((name) => `applied ${name}`).join('\n') : 'no pending migrations: the database is up to date',
      json: { applied },
    };
  },
};

export const db: Noun = { summary: 'manage the database schema', commands: { migrate } };
