#!/usr/bin/env node
/**
 * A bound, not a build to ship: a snapshot of the interactions worker whose
 * `/audit` skips wasm after the signature check. Its entry module parses the
 * interaction with `JSON.parse` and runs the reference worker's own audit
 * (`finishAudit` and its helpers, copied from
 * ../reference-worker/src/server.js at the time this runs): the same four
 * requests, written in JavaScript. Everything else (the header checks,
 * the key, PINGs, every other interaction) stays ours.
 *
 *   node bench/tools/ab.mjs snapshot /tmp/ours
 *   node bench/tools/js-audit.mjs /tmp/ours /tmp/js-audit
 *   node bench/tools/ab.mjs compare /tmp/js-audit reference
 *   node bench/tools/ab.mjs compare /tmp/ours /tmp/js-audit
 *
 * The first comparison says what ours would cost with no wasm at all in an
 * audit; the second what the audit's wasm costs under `wrangler dev`
 * (../README.md, ninth round).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fail = (message) => {
  console.error(`js-audit: ${message}`);
  process.exit(1);
};

const [from, to] = process.argv.slice(2);
if (!from || !to) fail('usage: js-audit.mjs SNAPSHOT_DIR OUT_DIR');
const entry = (dir) => path.join(dir, 'interactions-worker/entry/index.mjs');
if (!fs.existsSync(entry(from))) fail(`${from}: not a snapshot (make one with ab.mjs snapshot)`);

const reference = fs.readFileSync(path.join(ROOT, 'bench/reference-worker/src/server.js'), 'utf8');
const first = reference.indexOf('async function finishAudit');
const last = reference.indexOf('async function verifyDiscordRequest');
const colors = reference.match(/^const VERDICT_COLORS = .*$/m);
if (first < 0 || last < first || !colors) fail("the reference's audit functions were not found");

const anchor = '  return interaction_verified(env, ctx, settled, body);';
let source = fs.readFileSync(entry(from), 'utf8');
if (!source.includes(anchor)) fail("the entry's last step was not found");
source =
  "import AUDIT_REQUEST from './audit-request.json';\n" +
  `${colors[0]}\n` +
  source.replace(
    anchor,
    `  if (settled === true) {
    const interaction = JSON.parse(new TextDecoder().decode(body));
    if (interaction.type === 2 && interaction.data?.name === 'audit') {
      ctx.waitUntil(finishAudit(interaction, env));
      return new Response('{"type":5,"data":{"flags":64}}', {
        headers: { 'content-type': 'application/json' },
      });
    }
  }
${anchor}`,
  ) +
  `\n// From bench/reference-worker/src/server.js:\n${reference.slice(first, last)}`;

fs.rmSync(to, { recursive: true, force: true });
fs.cpSync(from, to, { recursive: true });
fs.writeFileSync(entry(to), source);
fs.copyFileSync(
  path.join(ROOT, 'bench/reference-worker/src/audit-request.json'),
  path.join(to, 'interactions-worker/entry/audit-request.json'),
);
console.log(`${to}: ${from} with the reference's audit in its entry module`);
