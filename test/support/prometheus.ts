/** Prometheus text format, parsed by hand (prom-client has no parser): `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include `labels`. */
export const sample = (samples: Map<string, number>, name: string, labels: Record<string, string> = {}) => {
  let total = 0;
  for (const [key, value] of samples) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
  }
  return total;
};

export const scrapeMetrics = async (baseUrl: string) => parseMetrics(await (await fetch(`${baseUrl}/metrics`)).text());
