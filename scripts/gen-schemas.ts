// Writes docs/schemas/*.json from the zod schemas in src/protocol/schemas.ts, the one
// definition of the manager-agent contract. With --check it fails if a file is stale.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { PUBLISHED_SCHEMAS } from "../src/protocol/schemas.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "schemas");
const check = process.argv.includes("--check");
let stale = 0;
mkdirSync(dir, { recursive: true });
for (const [file, schema] of Object.entries(PUBLISHED_SCHEMAS)) {
  // io "input": the maps as a manager writes them (defaults not yet applied)
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  const text = JSON.stringify({ $id: `https://osam-fixup.invalid/schemas/${file}`, ...json }, null, 2) + "\n";
  const path = join(dir, file);
  let old = "";
  try {
    old = readFileSync(path, "utf8");
  } catch {
    // not generated yet
  }
  if (old === text) continue;
  if (check) {
    console.error(`schemas: ${path} is out of date; run npm run schemas`);
    stale++;
  } else {
    writeFileSync(path, text);
    console.log(`schemas: wrote ${path}`);
  }
}
if (check && stale) process.exit(1);
if (check) console.log(`schemas: ${Object.keys(PUBLISHED_SCHEMAS).length} JSON Schemas up to date`);
