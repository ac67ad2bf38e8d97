// Seeded fuzzing: a small PRNG and text mutators, so that any failure names the seed that
// reproduces it (FUZZ_SEED=<n> node --test ...).

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPICE = ['"', "'", "\\", "\n", "\t", " ", "=", "#", "$(", ")", "{", "}", "[", "]", ":", ",", "-", "/", "\0", "é", "\u202e", "\r", ";", "*", "..", "UUID=", "/dev/vda1", "eth0", "%", "`", "\ufeff"];

/** One to four random edits of the text: flips, insertions of awkward characters, deletions, line shuffles, truncation. */
export function mutate(text: string, rnd: () => number): string {
  let t = text;
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(rnd() * (t.length + 1));
    const op = Math.floor(rnd() * 8);
    const lines = t.split("\n");
    const li = Math.floor(rnd() * lines.length);
    switch (op) {
      case 0:
        t = t.slice(0, pos) + SPICE[Math.floor(rnd() * SPICE.length)] + t.slice(pos);
        break;
      case 1:
        t = t.slice(0, pos) + t.slice(pos + 1 + Math.floor(rnd() * 20));
        break;
      case 2:
        lines.splice(li, 0, lines[li] ?? "");
        t = lines.join("\n");
        break;
      case 3:
        lines.splice(li, 1);
        t = lines.join("\n");
        break;
      case 4:
        t = t.slice(0, pos);
        break;
      case 5:
        t = t.slice(0, pos) + "x".repeat(1 + Math.floor(rnd() * 5000)) + t.slice(pos);
        break;
      case 6: {
        const lj = Math.floor(rnd() * lines.length);
        [lines[li], lines[lj]] = [lines[lj] ?? "", lines[li] ?? ""];
        t = lines.join("\n");
        break;
      }
      default:
        t = t.slice(0, pos) + String.fromCharCode(Math.floor(rnd() * 0x3000)) + t.slice(pos);
    }
  }
  return t;
}

/** How many iterations a fuzz test runs: small in the normal suite, FUZZ_ITERATIONS for long runs. */
export function iterations(normal: number): number {
  const n = Number(process.env.FUZZ_ITERATIONS);
  return Number.isInteger(n) && n > 0 ? n : normal;
}

export function baseSeed(): number {
  const s = Number(process.env.FUZZ_SEED);
  return Number.isInteger(s) ? s : 20261125;
}
