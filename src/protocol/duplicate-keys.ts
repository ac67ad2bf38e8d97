// JSON.parse keeps the last of two equal keys without a word, so a map edited by hand could
// say one thing to a person and another to stage 1. This scan runs over text JSON.parse has
// already accepted, so it only has to follow strings and nesting; it is iterative, because a
// valid map may nest deeper than the call stack.

/** Where a key occurs twice in one object: the path as in schema errors, and the key. */
export interface DuplicateKey {
  path: string;
  key: string;
}

interface Frame {
  /** Keys seen so far in an object; undefined for an array. */
  keys: Set<string> | undefined;
  /** The current member's key (object) or element index (array). */
  at: string | number;
  expectKey: boolean;
}

function pathOf(stack: Frame[], key: string): string {
  let p = "";
  for (const f of stack) if (f.at !== "") p += typeof f.at === "number" ? `[${f.at}]` : `.${f.at}`;
  p += `.${key}`;
  return p.replace(/^\./, "");
}

/** The first key that appears twice in one object of a valid JSON text, if any. */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        // decoded, so "a" and "\u0061" are the same key, as they are to JSON.parse
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { path: pathOf(stack.slice(0, -1), key), key };
        top.keys.add(key);
        top.at = key;
        top.expectKey = false;
      }
      i = j;
    } else if (ch === "{") {
      stack.push({ keys: new Set(), at: "", expectKey: true });
    } else if (ch === "[") {
      stack.push({ keys: undefined, at: 0, expectKey: false });
    } else if (ch === "}" || ch === "]") {
      stack.pop();
    } else if (ch === ",") {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
      else if (top) top.at = (top.at as number) + 1;
    }
  }
  return undefined;
}
