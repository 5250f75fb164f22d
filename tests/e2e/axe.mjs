// The accessibility check of the browser suite: axe-core (a real rule engine, from npm) injected
// into the page under test, run against WCAG 2.0/2.1/2.2 A and AA rules. A serious or critical
// violation fails the test, listed readably: rule, impact, help, and the offending elements.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The rule sets checked: WCAG 2.2 AA includes everything of 2.0 and 2.1 A/AA; axe's best
 * practices hold the page-structure rules (landmarks, headings in order).
 */
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/** Impacts that fail the check. */
export const FAILING_IMPACTS = ['serious', 'critical'];

/**
 * Rules that fail at any impact: the page's structure, which axe rates "moderate" but which is how
 * a screen-reader user finds their way (every part in a landmark, one main, one h1, headings in
 * order, no empty heading).
 */
export const STRUCTURE_RULES = [
  'region',
  'landmark-one-main',
  'landmark-no-duplicate-main',
  'landmark-unique',
  'landmark-banner-is-top-level',
  'landmark-main-is-top-level',
  'landmark-contentinfo-is-top-level',
  'page-has-heading-one',
  'heading-order',
  'empty-heading',
];

/**
 * Runs axe-core on a Playwright `page` and returns its violations (all impacts). `skipRules`: rule
 * ids left out, each with its reason at the caller.
 */
export async function axeViolations(page, { skipRules = [] } = {}) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  // Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not
  // govern: the page under test keeps its real policy.
  if (!loaded) await page.evaluate(`${AXE_SOURCE}\n;void 0`);
  return page.evaluate(async ([tags, skip]) => {
    const rules = Object.fromEntries(skip.map((id) => [id, { enabled: false }]));
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, rules, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  }, [AXE_TAGS, skipRules]);
}

/** One violation as lines a reader can act on. */
export function describeViolation(v) {
  const nodes = v.nodes.slice(0, 8).map((n) => `    ${n.target}\n      ${String(n.summary || '').replace(/\n/g, '\n      ')}`);
  const more = v.nodes.length > 8 ? [`    … and ${v.nodes.length - 8} more`] : [];
  return [`  [${v.impact}] ${v.id}: ${v.help}`, ...nodes, ...more].join('\n');
}

/**
 * Fails when the page has a serious or critical violation, or breaks a structure rule; `where`
 * names the screen. Returns all violations (the rest of the best practices are advice).
 */
export async function checkA11y(page, where, options = {}) {
  const violations = await axeViolations(page, options);
  const failing = violations.filter((v) => FAILING_IMPACTS.includes(v.impact) || STRUCTURE_RULES.includes(v.id));
  assert.equal(failing.length, 0, `${where}: accessibility violations (axe-core, WCAG 2.2 AA):\n${failing.map(describeViolation).join('\n')}`);
  return violations;
}
