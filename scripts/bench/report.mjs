// The bench's output: one table of rows (median ratio with min and max over alternating pairs, or a
// latency / a request count where a ratio makes no sense), then the details that explain missed targets.
import { fmt, median, printTable } from './lib.mjs';

/**
 * A row: { section, name, baseline, unit: 'x' | 'ms' | 'req', target?, targetText?, ratios: {median,min,max,n},
 * mine?, base? (summaries of the absolute times, for context), note? }.
 */
export function verdict(row) {
  if (row.verdictText) return row.verdictText;
  if (row.target === undefined) return '';
  return row.ratios.median <= row.target ? 'ok' : 'MISSED';
}

export function printRows(rows) {
  const digits = (r) => (r.unit === 'x' ? 2 : 0);
  const unit = (r) => (r.unit === 'x' ? 'x' : ` ${r.unit}`);
  const table = rows.map((r, i) => ({
    i: i + 1,
    section: r.section,
    name: r.name,
    baseline: r.baseline ?? '',
    n: r.ratios.n,
    median: `${fmt(r.ratios.median, digits(r))}${unit(r)}`,
    min: fmt(r.ratios.min, digits(r)),
    max: fmt(r.ratios.max, digits(r)),
    target: r.targetText ?? (r.target === undefined ? '' : `<= ${r.target}${unit(r)}`),
    verdict: verdict(r),
  }));
  const notes = rows
    .map((r, i) => [i + 1, r.note ?? (r.mine && r.base ? `medians ${fmt(r.mine.median, 0)} ms vs ${fmt(r.base.median, 0)} ms` : '')])
    .filter(([, n]) => n)
    .map(([i, n]) => `[${i}] ${n}`);
  return `${printTable(table, [
    { key: 'i', title: '#' },
    { key: 'section', title: 'section', left: true },
    { key: 'name', title: 'measurement', left: true },
    { key: 'baseline', title: 'against', left: true },
    { key: 'n', title: 'n' },
    { key: 'median', title: 'median' },
    { key: 'min', title: 'min' },
    { key: 'max', title: 'max' },
    { key: 'target', title: 'target', left: true },
    { key: 'verdict', title: 'verdict', left: true },
  ])}${notes.length ? `\n${notes.join('\n')}\n` : ''}`;
}

/**
 * Where an mk8s-addons run's wall time went, from the arrival times of its JSON events: start-up,
 * planning and the addons' prepare hooks (spawn to the first step event), each step (started to its
 * done/skipped event), the gaps between steps, and the end (last event to exit). Medians over the runs given.
 */
export function timeline(runs) {
  const spans = new Map();
  const add = (name, ms) => {
    if (!spans.has(name)) spans.set(name, []);
    spans.get(name).push(ms);
  };
  for (const r of runs) {
    const started = new Map();
    let firstStep;
    let lastAt = r.start;
    let stepEnd;
    let between = 0;
    for (const { at, line } of r.lines) {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        continue;
      }
      lastAt = at;
      if (ev.type !== 'step') continue;
      if (firstStep === undefined) {
        firstStep = at;
        add('(spawn to first step: start-up, plan, prepare hooks)', at - r.start);
      }
      if (ev.status === 'started') {
        if (stepEnd !== undefined) between += at - stepEnd;
        started.set(ev.phase, at);
      } else if (started.has(ev.phase)) {
        add(`${ev.phase} [${ev.status}]`, at - started.get(ev.phase));
        stepEnd = at;
      }
    }
    add('(between steps: journal, task list)', between);
    add('(last event to exit)', r.end - lastAt);
    add('(total)', r.ms);
  }
  // The start first, then the steps in the order first seen, then the gaps, the exit and the total.
  const rank = (name) => (name.startsWith('(spawn') ? 0 : name.startsWith('(') ? 2 : 1);
  const rows = [...spans].map(([name, xs], i) => ({ name, ms: fmt(median(xs), 0), i })).sort((a, b) => rank(a.name) - rank(b.name) || a.i - b.i);
  return printTable(rows, [
    { key: 'name', title: 'span (median over runs)', left: true },
    { key: 'ms', title: 'ms' },
  ]);
}
