#!/usr/bin/env node
// Independent implementation of runid/v1 declaration identity, written from docs/spec.md and
// docs/schema/declaration-v1.schema.json only (no reference source was read).
//
//   node tests/interop/runid-id.mjs FILE            -> {"declaration_id": ..., "components": {...}}
//                                                      or exit 1 with {"error": CODE, "pointer": P}
//   node tests/interop/runid-id.mjs --vectors DIR   -> run the identity golden vectors (spec §11)
//   node tests/interop/runid-id.mjs --jcs DIR       -> run the RFC 8785 vectors
//
// Node standard library only.
//
// Points the spec leaves open, and the guess taken here (see the interop report):
// - pointers of JSON-level faults: the value being parsed (E_INTEGER_RANGE, E_NAN, ...); for
//   E_DUPLICATE_KEY and a lone surrogate in a key, the object holding the member; "" for syntax,
//   size and encoding faults; for E_TOO_DEEP the container that is one level too deep;
// - JSON-level fault precedence: the first fault met in a left-to-right scan;
// - an integer literal beyond 2^53-1 that is also beyond the double range: E_INTEGER_RANGE;
// - an integer literal beyond 2^53-1 is accepted only when it is spelled exactly as
//   Number::toString spells its double (table of §2.1), even if its value is exact (2^60);
// - "or absent" alternatives: an object with a member "absent" is checked as an absence marker,
//   except in an open map (parameters), where only {"absent": <string>} is;
// - parameter entries: chosen by "source" (provider_default -> no "value" allowed);
// - a non-integral number in an integer field: E_TYPE; "" where a pattern also applies: E_EMPTY;
// - "sorted by name, no repeats": adjacent pairs, E_DUPLICATE on a repeat, E_ORDER otherwise,
//   both at /<i>/name of the later item; "name unique": E_DUPLICATE at the later item;
// - regular expressions: the schema's patterns with ECMA-262 semantics (what JSON Schema says).

import { createHash } from "node:crypto";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEMA_PATH = join(HERE, "..", "..", "docs", "schema", "declaration-v1.schema.json");

// ---------------------------------------------------------------------------------------------
// Errors and JSON Pointers (RFC 6901)
// ---------------------------------------------------------------------------------------------

class RunidError extends Error {
  constructor(code, pointer, message) {
    super(`${pointer}: ${code} ${message}`);
    this.code = code;
    this.pointer = pointer;
  }
}

function pointerOf(path) {
  return path.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

// ---------------------------------------------------------------------------------------------
// Strict JSON parsing (spec §2.1, §8)
// ---------------------------------------------------------------------------------------------

const MAX_BYTES = 64 * 1024 * 1024; // 67108864; "larger than" this is rejected
const MAX_DEPTH = 128; // a scalar root is depth 0, [] is depth 1
const MAX_SAFE = 9007199254740991n;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

// Parsed objects are Maps (key -> value) so that no key is special and order is kept.
function parseStrictBytes(bytes) {
  if (bytes.length > MAX_BYTES) {
    throw new RunidError("E_TOO_LARGE", "", `text of ${bytes.length} bytes exceeds 64 MiB`);
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new RunidError("E_JSON_SYNTAX", "", "byte order mark");
  }
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new RunidError("E_JSON_SYNTAX", "", "text is not UTF-8");
  }
  return parseStrictText(text);
}

function hasLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function parseStrictText(text) {
  let pos = 0;
  const path = [];

  const fail = (code, msg, p = path) => {
    throw new RunidError(code, pointerOf(p), `${msg} (at character ${pos})`);
  };
  const ws = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const startsWith = (lit) => text.startsWith(lit, pos);

  function parseString() {
    // text[pos] === '"'
    pos++;
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail("E_JSON_SYNTAX", "unterminated string");
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        break;
      }
      if (c < 0x20) fail("E_JSON_SYNTAX", "unescaped control character in string");
      if (c === 0x5c) {
        out += text.slice(start, pos);
        pos++;
        const e = text[pos];
        const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && Object.hasOwn(simple, e)) {
          out += simple[e];
          pos++;
        } else if (e === "u") {
          const hex = text.slice(pos + 1, pos + 5);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("E_JSON_SYNTAX", "bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 5;
        } else {
          fail("E_JSON_SYNTAX", "bad escape");
        }
        start = pos;
        continue;
      }
      pos++;
    }
    return out;
  }

  function parseNumber() {
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (!m) fail("E_JSON_SYNTAX", "bad number");
    const lit = m[0];
    pos += lit.length;
    const value = Number(lit);
    const isIntegerLiteral = !/[.eE]/.test(lit);
    if (isIntegerLiteral) {
      let big = BigInt(lit);
      if (big < 0n) big = -big;
      // §2.1: beyond 2^53-1 is rejected unless the literal is exactly how §2 writes a double.
      if (big > MAX_SAFE && !(Number.isFinite(value) && String(value) === lit)) {
        fail("E_INTEGER_RANGE", `integer literal ${lit} beyond 2^53-1`);
      }
    }
    if (!Number.isFinite(value)) fail("E_NUMBER_RANGE", `number ${lit} overflows a double`);
    return value;
  }

  function parseValue(depth) {
    ws();
    if (pos >= text.length) fail("E_JSON_SYNTAX", "unexpected end of text");
    const ch = text[pos];
    if (ch === "{" || ch === "[") {
      if (depth + 1 > MAX_DEPTH) fail("E_TOO_DEEP", `nesting deeper than ${MAX_DEPTH}`);
      return ch === "{" ? parseObject(depth + 1) : parseArray(depth + 1);
    }
    if (ch === '"') {
      const s = parseString();
      if (hasLoneSurrogate(s)) fail("E_LONE_SURROGATE", "string holds a lone surrogate");
      return s;
    }
    if (startsWith("NaN") || startsWith("Infinity") || startsWith("-Infinity")) {
      fail("E_NAN", "NaN/Infinity are not JSON numbers");
    }
    if (ch === "-" || (ch >= "0" && ch <= "9")) return parseNumber();
    if (startsWith("true")) {
      pos += 4;
      return true;
    }
    if (startsWith("false")) {
      pos += 5;
      return false;
    }
    if (startsWith("null")) {
      pos += 4;
      return null;
    }
    return fail("E_JSON_SYNTAX", `unexpected character ${JSON.stringify(ch)}`);
  }

  function parseObject(depth) {
    pos++; // {
    const obj = new Map();
    ws();
    if (text[pos] === "}") {
      pos++;
      return obj;
    }
    for (;;) {
      ws();
      if (text[pos] !== '"') fail("E_JSON_SYNTAX", "expected a member name");
      const key = parseString();
      if (hasLoneSurrogate(key)) fail("E_LONE_SURROGATE", "member name holds a lone surrogate");
      if (obj.has(key)) fail("E_DUPLICATE_KEY", `duplicate member name ${JSON.stringify(key)}`);
      ws();
      if (text[pos] !== ":") fail("E_JSON_SYNTAX", "expected ':'");
      pos++;
      path.push(key);
      const v = parseValue(depth);
      path.pop();
      obj.set(key, v);
      ws();
      if (text[pos] === ",") {
        pos++;
        continue;
      }
      if (text[pos] === "}") {
        pos++;
        return obj;
      }
      fail("E_JSON_SYNTAX", "expected ',' or '}'");
    }
  }

  function parseArray(depth) {
    pos++; // [
    const arr = [];
    ws();
    if (text[pos] === "]") {
      pos++;
      return arr;
    }
    for (;;) {
      path.push(arr.length);
      arr.push(parseValue(depth));
      path.pop();
      ws();
      if (text[pos] === ",") {
        pos++;
        continue;
      }
      if (text[pos] === "]") {
        pos++;
        return arr;
      }
      fail("E_JSON_SYNTAX", "expected ',' or ']'");
    }
  }

  if (text.length === 0) fail("E_JSON_SYNTAX", "empty input");
  const value = parseValue(0);
  ws();
  if (pos !== text.length) fail("E_JSON_SYNTAX", "trailing characters after the JSON value", []);
  return value;
}

// ---------------------------------------------------------------------------------------------
// RFC 8785 canonicalization (spec §2)
// ---------------------------------------------------------------------------------------------

function jcsString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0d) out += "\\r";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

function jcsNumber(x) {
  if (!Number.isFinite(x)) throw new RunidError("E_NAN", "", "NaN/Infinity cannot be canonicalized");
  if (Object.is(x, -0)) return "0";
  return String(x); // ECMA-262 Number::toString
}

function compareUtf16(a, b) {
  return a < b ? -1 : a > b ? 1 : 0; // JS string comparison is by UTF-16 code units
}

function jcsText(v) {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "number") return jcsNumber(v);
  if (typeof v === "string") return jcsString(v);
  if (Array.isArray(v)) return "[" + v.map(jcsText).join(",") + "]";
  if (v instanceof Map) {
    const keys = [...v.keys()].sort(compareUtf16);
    return "{" + keys.map((k) => jcsString(k) + ":" + jcsText(v.get(k))).join(",") + "}";
  }
  throw new RunidError("E_NOT_JSON", "", `not a JSON value: ${typeof v}`);
}

function jcs(v) {
  return Buffer.from(jcsText(v), "utf8");
}

// ---------------------------------------------------------------------------------------------
// Digests (spec §3) and identity (spec §5)
// ---------------------------------------------------------------------------------------------

const COMPONENTS = [
  "model",
  "parameters",
  "instructions",
  "inputs",
  "context",
  "tools",
  "runtime",
  "constraints",
];

function structureDigest(tag, payload) {
  const h = createHash("sha256");
  h.update(Buffer.from(tag, "ascii"));
  h.update(Buffer.from([0]));
  h.update(payload);
  return "sha256:" + h.digest("hex");
}

function identity(decl) {
  const components = new Map();
  for (const n of COMPONENTS) {
    components.set(n, structureDigest(`runid:v1:component:${n}`, jcs(decl.get(n))));
  }
  const declarationId = structureDigest("runid:v1:declaration", jcs(components));
  const sorted = Object.fromEntries([...components].sort((a, b) => compareUtf16(a[0], b[0])));
  return { declaration_id: declarationId, components: sorted };
}

// ---------------------------------------------------------------------------------------------
// Validation (spec §4, §6, §7), driven by the JSON Schema plus the rules the tables cannot show
// ---------------------------------------------------------------------------------------------

const SCHEMA = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
const ABSENT_REF = "#/$defs/absent";

function resolve(schema) {
  while (schema && schema.$ref) {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    if (!m || !SCHEMA.$defs[m[1]]) throw new Error(`unsupported $ref ${schema.$ref}`);
    schema = SCHEMA.$defs[m[1]];
  }
  return schema;
}

function jsonType(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (v instanceof Map) return "object";
  return typeof v; // string, number, boolean
}

function typeMatches(type, v) {
  const t = jsonType(v);
  if (type === "integer" || type === "number") return t === "number";
  return t === type;
}

// Flatten nested oneOf into a list of leaf branches (keeping the raw branch to spot $ref absent).
function flattenOneOf(branches) {
  const out = [];
  for (const b of branches) {
    const r = resolve(b);
    if (r.oneOf) out.push(...flattenOneOf(r.oneOf));
    else out.push({ raw: b, schema: r });
  }
  return out;
}

const KNOWN_KEYWORDS = new Set([
  "$schema", "$id", "title", "description", "type", "const", "enum", "minLength", "pattern",
  "minimum", "maximum", "minItems", "items", "properties", "required", "additionalProperties",
  "propertyNames", "oneOf", "$ref", "$defs",
]);

// An object schema that admits members of any name (parameters, libraries, filters, ...).
function isOpenMap(schema) {
  return schema.additionalProperties !== undefined && schema.additionalProperties !== false;
}

// Pick the oneOf branch whose errors are reported. Guess (the spec gives no rule): by JSON type;
// among object branches, an object carrying an "absent" member is an absence marker, and a
// parameter entry is discriminated by its "source".
function chooseBranch(value, branches) {
  const cands = branches.filter((b) => b.schema.type === undefined || typeMatches(b.schema.type, value));
  if (cands.length <= 1) return cands[0] ?? null;
  const absent = cands.find((b) => b.raw.$ref === ABSENT_REF);
  const others = cands.filter((b) => b !== absent);
  if (absent && others.length === 1) {
    const other = others[0].schema;
    let looksAbsent = value.has("absent");
    if (isOpenMap(other)) {
      // an open map (parameters) may legitimately hold a member named "absent"
      looksAbsent = value.size === 1 && typeof value.get("absent") === "string";
    }
    return looksAbsent ? absent : others[0];
  }
  // parameter entries: {"source": declared|default, "value"} vs {"source": provider_default}
  const src = value.get("source");
  for (const b of others) {
    const s = b.schema.properties?.source;
    if (!s) continue;
    if (s.const !== undefined && s.const === src) return b;
    if (s.enum && s.enum.includes(src)) return b;
  }
  return others[0];
}

function validateNode(value, schemaIn, path, errs) {
  const schema = resolve(schemaIn);
  for (const k of Object.keys(schema)) {
    if (!KNOWN_KEYWORDS.has(k)) throw new Error(`unsupported schema keyword ${k}`);
  }
  const add = (code, p, msg) => errs.push({ code, pointer: pointerOf(p), message: msg });

  if (schema.oneOf) {
    const branches = flattenOneOf(schema.oneOf);
    const b = chooseBranch(value, branches);
    if (!b) {
      const want = [...new Set(branches.map((x) => x.schema.type ?? "any"))].join(" or ");
      add("E_TYPE", path, `expected ${want}, got ${jsonType(value)}`);
      return;
    }
    validateNode(value, b.schema, path, errs);
    return;
  }
  if (schema.type !== undefined) {
    if (!typeMatches(schema.type, value)) {
      add("E_TYPE", path, `expected ${schema.type}, got ${jsonType(value)}`);
      return;
    }
    if (schema.type === "integer" && !Number.isInteger(value)) {
      add("E_TYPE", path, `expected integer, got ${value}`);
      return;
    }
  }
  if (schema.const !== undefined && value !== schema.const) {
    add(path.length === 1 && path[0] === "spec" ? "E_CONST" : "E_ENUM", path, `expected ${schema.const}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    add("E_ENUM", path, `expected one of ${schema.enum.join(", ")}`);
    return;
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) {
      add("E_EMPTY", path, "empty string");
      return;
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      add("E_FORMAT", path, `does not match ${schema.pattern}`);
      return;
    }
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      add("E_RANGE", path, `below ${schema.minimum}`);
      return;
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      add("E_RANGE", path, `above ${schema.maximum}`);
      return;
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      add("E_EMPTY", path, "empty array");
      return;
    }
    if (schema.items) {
      value.forEach((item, i) => validateNode(item, schema.items, [...path, i], errs));
    }
  }
  if (value instanceof Map) {
    const props = schema.properties ?? {};
    for (const r of schema.required ?? []) {
      if (!value.has(r)) add("E_REQUIRED", [...path, r], "required field is missing");
    }
    for (const [k, v] of value) {
      if (schema.propertyNames?.pattern && !new RegExp(schema.propertyNames.pattern, "u").test(k)) {
        add("E_FORMAT", [...path, k], `name does not match ${schema.propertyNames.pattern}`);
      }
      if (Object.hasOwn(props, k)) {
        validateNode(v, props[k], [...path, k], errs);
      } else if (schema.additionalProperties === false) {
        add("E_UNKNOWN_FIELD", [...path, k], "field not defined by runid/v1");
      } else if (schema.additionalProperties !== undefined) {
        validateNode(v, schema.additionalProperties, [...path, k], errs);
      }
    }
  }
}

function codePointCompare(a, b) {
  const x = [...a].map((c) => c.codePointAt(0));
  const y = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

// §6 / §7: arrays "sorted by name, no repeats" and arrays whose "name" is unique.
const SORTED_BY_NAME = [
  ["model", "weights"],
  ["model", "tokenizer"],
  ["model", "adapters"],
];
const UNIQUE_NAME = [
  ["tools", "definitions"],
  ["constraints", "guardrails"],
];

function getPath(root, path) {
  let v = root;
  for (const seg of path) {
    if (!(v instanceof Map) || !v.has(seg)) return undefined;
    v = v.get(seg);
  }
  return v;
}

function nameOf(item) {
  return item instanceof Map && typeof item.get("name") === "string" ? item.get("name") : null;
}

function validateArrayRules(decl, errs) {
  const add = (code, p, msg) => errs.push({ code, pointer: pointerOf(p), message: msg });
  for (const path of SORTED_BY_NAME) {
    const arr = getPath(decl, path);
    if (!Array.isArray(arr)) continue;
    for (let i = 1; i < arr.length; i++) {
      const a = nameOf(arr[i - 1]);
      const b = nameOf(arr[i]);
      if (a === null || b === null) continue;
      const c = codePointCompare(a, b);
      if (c === 0) add("E_DUPLICATE", [...path, i, "name"], `repeated name ${JSON.stringify(b)}`);
      else if (c > 0) add("E_ORDER", [...path, i, "name"], `${JSON.stringify(b)} is not sorted`);
    }
  }
  for (const path of UNIQUE_NAME) {
    const arr = getPath(decl, path);
    if (!Array.isArray(arr)) continue;
    const seen = new Set();
    arr.forEach((item, i) => {
      const n = nameOf(item);
      if (n === null) return;
      if (seen.has(n)) add("E_DUPLICATE", [...path, i, "name"], `repeated name ${JSON.stringify(n)}`);
      seen.add(n);
    });
  }
}

function validateDeclaration(decl) {
  const errs = [];
  validateNode(decl, SCHEMA, [], errs);
  if (decl instanceof Map) validateArrayRules(decl, errs);
  return errs;
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

// Returns {ok: true, result} or {ok: false, errors: [{code, pointer, message}]}.
function processDeclaration(decl) {
  const errors = validateDeclaration(decl);
  if (errors.length) return { ok: false, errors };
  return { ok: true, result: identity(decl) };
}

function processBytes(bytes) {
  let decl;
  try {
    decl = parseStrictBytes(bytes);
  } catch (e) {
    if (e instanceof RunidError) return { ok: false, errors: [e] };
    throw e;
  }
  return processDeclaration(decl);
}

function runFile(file) {
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: "E_FILE", pointer: "", message: e.message }) + "\n");
    return 6;
  }
  const r = processBytes(bytes);
  if (r.ok) {
    process.stdout.write(JSON.stringify(r.result) + "\n");
    return 0;
  }
  const first = r.errors[0];
  process.stdout.write(JSON.stringify({ error: first.code, pointer: first.pointer }) + "\n");
  for (const e of r.errors) process.stderr.write(`${e.pointer}: ${e.code} ${e.message}\n`);
  return 1;
}

function runVectors(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  let passed = 0;
  let failed = 0;
  for (const f of files) {
    let verdict;
    try {
      const vector = parseStrictBytes(readFileSync(join(dir, f)));
      let r;
      if (vector.has("declaration_json")) {
        r = processBytes(Buffer.from(vector.get("declaration_json"), "utf8"));
      } else {
        r = processDeclaration(vector.get("declaration"));
      }
      if (vector.has("error")) {
        const exp = vector.get("error");
        const code = exp instanceof Map ? exp.get("code") : exp;
        const ptr = exp instanceof Map ? exp.get("pointer") : undefined;
        if (r.ok) {
          verdict = `accepted, expected ${code} at ${ptr}`;
        } else {
          const first = r.errors[0];
          if (first.code === code && (ptr === undefined || first.pointer === ptr)) verdict = null;
          else {
            const all = r.errors.map((e) => `${e.code} ${e.pointer}`).join("; ");
            verdict = `expected ${code} at ${ptr}, got ${all}`;
          }
        }
      } else if (!r.ok) {
        const all = r.errors.map((e) => `${e.code} ${e.pointer} ${e.message}`).join("; ");
        verdict = `rejected: ${all}`;
      } else {
        const probs = [];
        const expComp = vector.get("components");
        for (const n of COMPONENTS) {
          if (expComp.get(n) !== r.result.components[n]) {
            probs.push(`${n}: expected ${expComp.get(n)}, got ${r.result.components[n]}`);
          }
        }
        if (expComp.size !== COMPONENTS.length) probs.push("vector components: not the eight names");
        if (vector.get("declaration_id") !== r.result.declaration_id) {
          probs.push(`id: expected ${vector.get("declaration_id")}, got ${r.result.declaration_id}`);
        }
        verdict = probs.length ? probs.join("; ") : null;
      }
    } catch (e) {
      verdict = `exception: ${e.message ?? e}`;
    }
    if (verdict === null) {
      passed++;
      console.log(`PASS ${f}`);
    } else {
      failed++;
      console.log(`FAIL ${f}: ${verdict}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

function runJcs(dir) {
  let passed = 0;
  let failed = 0;
  const report = (name, problem) => {
    if (problem === null) {
      passed++;
      console.log(`PASS ${name}`);
    } else {
      failed++;
      console.log(`FAIL ${name}: ${problem}`);
    }
  };
  const inputDir = join(dir, "input");
  for (const f of readdirSync(inputDir).filter((x) => x.endsWith(".json")).sort()) {
    const stem = basename(f, ".json");
    try {
      const got = jcs(parseStrictBytes(readFileSync(join(inputDir, f))));
      const outPath = join(dir, "output", f);
      if (existsSync(outPath)) {
        const want = readFileSync(outPath);
        report(`output/${f}`, got.equals(want) ? null : `got ${got.toString("utf8")}`);
      }
      const hexPath = join(dir, "outhex", `${stem}.txt`);
      if (existsSync(hexPath)) {
        const hex = readFileSync(hexPath, "utf8").trim().split(/\s+/).join("");
        const want = Buffer.from(hex, "hex");
        report(`outhex/${stem}.txt`, got.equals(want) ? null : `got ${got.toString("hex")}`);
      }
    } catch (e) {
      report(`input/${f}`, `exception: ${e.message}`);
    }
  }
  const numbersPath = join(dir, "es6-numbers-sample.txt");
  if (existsSync(numbersPath)) {
    const lines = readFileSync(numbersPath, "utf8").split("\n").filter((l) => l.trim() !== "");
    let nBad = 0;
    lines.forEach((line, i) => {
      const [hexBits, expected] = line.split(",");
      const buf = Buffer.from(hexBits.padStart(16, "0"), "hex");
      const x = buf.readDoubleBE(0);
      let got;
      try {
        got = jcsText(x);
      } catch (e) {
        got = e.code;
      }
      // Also check that the expected text parses back, through the strict parser, to that double
      // (and to the same canonical text), as §2.1 promises for canonical output.
      let back;
      try {
        back = jcsText(parseStrictText(expected));
      } catch (e) {
        back = e.code;
      }
      if (got !== expected || back !== expected) {
        nBad++;
        report(`es6-numbers-sample.txt:${i + 1}`, `${hexBits}: got ${got}, reparsed ${back}`);
      } else {
        passed++;
      }
    });
    console.log(`es6-numbers-sample.txt: ${lines.length - nBad} of ${lines.length} numbers ok`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

function main(argv) {
  if (argv.length === 2 && argv[0] === "--vectors") return runVectors(argv[1]);
  if (argv.length === 2 && argv[0] === "--jcs") return runJcs(argv[1]);
  if (argv.length === 1 && !argv[0].startsWith("--")) return runFile(argv[0]);
  process.stderr.write("usage: runid-id.mjs FILE | --vectors DIR | --jcs DIR\n");
  return 2;
}

process.exitCode = main(process.argv.slice(2));
