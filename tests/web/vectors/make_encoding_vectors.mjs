// Writes tests/web/vectors/encoding.json: TextDecoder vectors for every WHATWG encoding.
//
//   cd tests/web/vectors && npm install && node make_encoding_vectors.mjs path/to/indexes.json
//
// indexes.json is the Encoding Standard's own index data (the whatwg/encoding repository);
// it says which byte sequences are mapped, so that every mapped pointer of each multi-byte
// index is covered. Expected strings come from @exodus/bytes (package.json pins it), a
// TextDecoder written from the standard's decoder algorithms that passes the WPT encoding
// tests. Node's own TextDecoder is not the reference: it is ICU's converters as they come,
// and differs from the standard for EUC-KR, Big5, Shift_JIS 0x80, KOI8-U and others (it
// refuses x-user-defined); the agreement of Node with the reference is recorded per
// encoding in the output, for the record.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TextDecoder as Reference, normalizeEncoding } from "@exodus/bytes/encoding.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const indexesPath = process.argv[2];
if (!indexesPath) {
  console.error("usage: node make_encoding_vectors.mjs path/to/indexes.json");
  process.exit(2);
}
const indexes = JSON.parse(fs.readFileSync(indexesPath, "utf8"));
const referenceVersion = JSON.parse(
  fs.readFileSync(path.join(here, "node_modules/@exodus/bytes/package.json"), "utf8"),
).version;

const singleByte = [
  "ibm866", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7",
  "iso-8859-8", "iso-8859-8-i", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
  "iso-8859-16", "koi8-r", "koi8-u", "macintosh", "windows-874", "windows-1250", "windows-1251",
  "windows-1252", "windows-1253", "windows-1254", "windows-1255", "windows-1256", "windows-1257",
  "windows-1258", "x-mac-cyrillic", "x-user-defined",
];
const multiByte = ["gbk", "gb18030", "big5", "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr"];
const utf = ["utf-8", "utf-16le", "utf-16be"];

const hex = (bytes) => Buffer.from(bytes).toString("hex");

// [encoding, [hex chunk, ...], fatal, ignoreBOM, expected string | null (TypeError), what]
const vectors = [];
const nodeAgreement = {};

function decodeWith(Decoder, encoding, chunks, fatal, ignoreBOM) {
  try {
    const decoder = new Decoder(encoding, { fatal, ignoreBOM });
    let text = "";
    chunks.forEach((chunk, i) => {
      text += decoder.decode(Uint8Array.from(chunk), { stream: i < chunks.length - 1 });
    });
    return text;
  } catch (e) {
    if (e instanceof TypeError) return null;
    throw e;
  }
}

function add(encoding, chunks, { fatal = false, ignoreBOM = false, what }) {
  const expected = decodeWith(Reference, encoding, chunks, fatal, ignoreBOM);
  let node;
  try {
    node = decodeWith(TextDecoder, encoding, chunks, fatal, ignoreBOM);
  } catch {
    node = undefined; // Node refuses the encoding
  }
  const tally = (nodeAgreement[encoding] ??= [0, 0]);
  tally[1] += 1;
  if (node === expected) tally[0] += 1;
  vectors.push([encoding, chunks.map(hex), fatal, ignoreBOM, expected, what]);
}

// Every byte of every single-byte encoding, alone, in both error modes.
for (const encoding of singleByte) {
  for (let byte = 0; byte < 256; byte++) {
    add(encoding, [[byte]], { what: `byte ${byte.toString(16)}` });
    add(encoding, [[byte]], { fatal: true, what: `byte ${byte.toString(16)} fatal` });
  }
}

// Every mapped pointer of the multi-byte indexes, one row (lead byte) per vector.
function rows(encoding, sequences) {
  const byLead = new Map();
  for (const bytes of sequences) {
    const lead = bytes.length > 2 ? `${bytes[0].toString(16)}${bytes[1].toString(16)}` : bytes[0].toString(16);
    if (!byLead.has(lead)) byLead.set(lead, []);
    byLead.get(lead).push(...bytes);
  }
  for (const [lead, bytes] of byLead) add(encoding, [bytes], { fatal: true, what: `index row ${lead}` });
}
const mapped = (index) => index.flatMap((codePoint, pointer) => (codePoint === null ? [] : [pointer]));

rows("shift_jis", [
  ...[...new Set(mapped(indexes.jis0208).concat(Array.from({ length: 10716 - 8836 }, (_, i) => 8836 + i)))]
    .sort((a, b) => a - b)
    .map((p) => {
      const lead = Math.floor(p / 188);
      const trail = p % 188;
      return [lead + (lead < 0x1f ? 0x81 : 0xc1), trail + (trail < 0x3f ? 0x40 : 0x41)];
    })
    .filter(([lead]) => lead <= 0xfc),
]);
rows("euc-jp", [
  ...mapped(indexes.jis0208).filter((p) => p < 94 * 94).map((p) => [0xa1 + Math.floor(p / 94), 0xa1 + (p % 94)]),
  ...mapped(indexes.jis0212).map((p) => [0x8f, 0xa1 + Math.floor(p / 94), 0xa1 + (p % 94)]),
  ...Array.from({ length: 0xdf - 0xa1 + 1 }, (_, i) => [0x8e, 0xa1 + i]),
]);
rows("euc-kr", mapped(indexes["euc-kr"]).map((p) => [0x81 + Math.floor(p / 190), 0x41 + (p % 190)]));
rows("big5", mapped(indexes.big5).concat([1133, 1135, 1164, 1166]).map((p) => {
  const trail = p % 157;
  return [0x81 + Math.floor(p / 157), trail + (trail < 0x3f ? 0x40 : 0x62)];
}));
const gbTwoByte = mapped(indexes.gb18030).map((p) => {
  const trail = p % 190;
  return [0x81 + Math.floor(p / 190), trail + (trail < 0x3f ? 0x40 : 0x41)];
});
rows("gb18030", gbTwoByte);
rows("gbk", gbTwoByte);

// gb18030 four-byte sequences: both ends of every range, and the supplementary planes.
function gbFourByte(pointer) {
  const b1 = Math.floor(pointer / 12600);
  const b2 = Math.floor((pointer % 12600) / 1260);
  const b3 = Math.floor((pointer % 1260) / 10);
  return [b1 + 0x81, b2 + 0x30, b3 + 0x81, (pointer % 10) + 0x30];
}
const ranges = indexes["gb18030-ranges"];
for (const [i, [start]] of ranges.entries()) {
  const end = i + 1 < ranges.length ? ranges[i + 1][0] : 39420;
  for (const p of new Set([start, end - 1])) add("gb18030", [gbFourByte(p)], { what: `four-byte ${p}` });
}
for (const p of [39419, 39420, 188999, 189000, 189000 + 0xffff, 1237575, 1237576]) {
  add("gb18030", [gbFourByte(p)], { what: `four-byte ${p}` });
  add("gb18030", [gbFourByte(p)], { fatal: true, what: `four-byte ${p} fatal` });
}

// Invalid and truncated sequences of the multi-byte decoders, in both modes.
const leads = [0x80, 0x81, 0x84, 0x8e, 0x8f, 0x90, 0xa0, 0xa1, 0xc8, 0xdf, 0xe0, 0xfc, 0xfd, 0xfe, 0xff];
const trails = [0x00, 0x0a, 0x1b, 0x20, 0x30, 0x39, 0x3f, 0x40, 0x41, 0x5c, 0x7e, 0x7f, 0x80, 0xa0, 0xa1, 0xfe, 0xff];
for (const encoding of multiByte.filter((e) => e !== "iso-2022-jp")) {
  for (let byte = 0; byte < 0x100; byte++) {
    add(encoding, [[byte]], { what: `lone ${byte.toString(16)}` });
    add(encoding, [[byte]], { fatal: true, what: `lone ${byte.toString(16)} fatal` });
    add(encoding, [[byte, 0x41]], { what: `${byte.toString(16)} then A` });
  }
  for (const lead of leads) {
    for (const trail of trails) {
      add(encoding, [[lead, trail]], { what: `${lead.toString(16)} ${trail.toString(16)}` });
      add(encoding, [[lead, trail, 0x42]], { fatal: true, what: `${lead.toString(16)} ${trail.toString(16)} fatal` });
    }
  }
}
const gbCases = [
  [0x81, 0x30], [0x81, 0x30, 0x81], [0x81, 0x30, 0x41], [0x81, 0x30, 0x81, 0x41], [0x81, 0x30, 0x81, 0x30, 0x41],
  [0x81, 0x30, 0xff, 0x30], [0x81, 0x30, 0x81, 0xff], [0x84, 0x31, 0xa4, 0x39], [0x84, 0x31, 0xa5, 0x30],
  [0xe3, 0x32, 0x9a, 0x35], [0xe3, 0x32, 0x9a, 0x36], [0xfe, 0x39, 0xfe, 0x39], [0x81, 0x30, 0x81, 0x30, 0x81],
];
for (const encoding of ["gb18030", "gbk"]) {
  for (const bytes of gbCases) {
    add(encoding, [bytes], { what: `four-byte ${hex(bytes)}` });
    add(encoding, [bytes], { fatal: true, what: `four-byte ${hex(bytes)} fatal` });
  }
}
const eucJpCases = [
  [0x8e], [0x8e, 0xa0], [0x8e, 0xe0], [0x8e, 0x41], [0x8f], [0x8f, 0xa1], [0x8f, 0xa1, 0x41], [0x8f, 0xa1, 0xa1],
  [0x8f, 0xb0, 0xa1], [0x8f, 0xfe, 0xfe], [0x8f, 0x41, 0x42], [0xa1, 0xa1, 0x8e, 0xa1],
];
for (const bytes of eucJpCases) {
  add("euc-jp", [bytes], { what: hex(bytes) });
  add("euc-jp", [bytes], { fatal: true, what: `${hex(bytes)} fatal` });
}

// ISO-2022-JP: its states, escape sequences and their errors.
const ESC = 0x1b;
const iso2022jp = [
  [0x41, 0x5c, 0x7e], [ESC, 0x28, 0x42, 0x41], [ESC, 0x28, 0x4a, 0x41, 0x5c, 0x7e],
  [ESC, 0x28, 0x49, 0x21, 0x5f, 0x60], [ESC, 0x24, 0x40, 0x30, 0x21], [ESC, 0x24, 0x42, 0x30, 0x21, 0x24, 0x22],
  [ESC, 0x24, 0x42, 0x30, 0x21, ESC, 0x28, 0x42, 0x41], [ESC, 0x24, 0x42, 0x30], [ESC, 0x24, 0x42, 0x30, 0x0a],
  [ESC, 0x24, 0x42, 0x0a, 0x30, 0x21], [ESC, 0x24, 0x42, 0x7f, 0x21], [ESC, 0x24, 0x42, 0x21, 0x7f],
  [ESC, 0x24, 0x42, 0x74, 0x27], [ESC, 0x24, 0x42, 0x74, 0x21], [ESC], [ESC, 0x24], [ESC, 0x28], [ESC, 0x41],
  [ESC, 0x24, 0x41], [ESC, 0x28, 0x41], [ESC, 0x24, 0x28, 0x44, 0x30, 0x21], [ESC, 0x28, 0x42, ESC, 0x28, 0x42],
  [ESC, 0x28, 0x42], [ESC, 0x24, 0x42, ESC, 0x28, 0x42], [ESC, 0x28, 0x4a, ESC, 0x28, 0x42, 0x41],
  [0x0e], [0x0f], [0x41, 0x0e, 0x42], [0x80], [0xa1], [0xff, 0x41], [ESC, 0x28, 0x49, 0x41, 0x80],
  [ESC, 0x28, 0x49, 0x60, 0x20], [ESC, 0x28, 0x4a, 0x80], [ESC, 0x24, 0x42, 0x30, 0x21, 0x80, 0x30, 0x21],
  [ESC, 0x28, 0x42, 0x41, ESC, 0x28, 0x42, 0x42], [0x41, ESC, 0x24, 0x42, 0x30, 0x21, 0x30, 0x22, ESC, 0x28, 0x42],
];
for (const bytes of iso2022jp) {
  add("iso-2022-jp", [bytes], { what: hex(bytes) });
  add("iso-2022-jp", [bytes], { fatal: true, what: `${hex(bytes)} fatal` });
}

// UTF-16: pairs, lone surrogates, odd lengths; and the byte order marks of every UTF.
const swap = (units) => units.flatMap((u) => [u & 0xff, u >> 8]);
const utf16Cases = [
  [0x41], [0xd83d, 0xde00], [0xd800], [0xdc00], [0xd800, 0x41], [0xdc00, 0xd800], [0xd800, 0xd800, 0xdc00],
  [0xfeff, 0x41], [0xfffe, 0x41], [0xfeff, 0xfeff], [0x00e9, 0x4e2d],
];
for (const units of utf16Cases) {
  const le = swap(units);
  const be = units.flatMap((u) => [u >> 8, u & 0xff]);
  for (const [encoding, bytes] of [["utf-16le", le], ["utf-16be", be]]) {
    add(encoding, [bytes], { what: hex(bytes) });
    add(encoding, [bytes], { fatal: true, what: `${hex(bytes)} fatal` });
    add(encoding, [bytes], { ignoreBOM: true, what: `${hex(bytes)} ignoreBOM` });
    add(encoding, [[...bytes, 0x41]], { what: `${hex(bytes)} odd` });
    add(encoding, [[...bytes, 0x41]], { fatal: true, what: `${hex(bytes)} odd fatal` });
  }
}
const boms = [[0xef, 0xbb, 0xbf], [0xff, 0xfe], [0xfe, 0xff]];
for (const encoding of [...utf, "windows-1252", "shift_jis", "gb18030"]) {
  for (const bom of boms) {
    for (const ignoreBOM of [false, true]) {
      add(encoding, [[...bom, 0x41, 0x00]], { ignoreBOM, what: `bom ${hex(bom)}` });
      add(encoding, [[...bom, ...bom, 0x41, 0x00]], { ignoreBOM, what: `bom twice ${hex(bom)}` });
    }
  }
}

// Streaming: a text cut at every byte, then at every pair of positions.
const streamTexts = {
  "utf-8": [0xef, 0xbb, 0xbf, 0x41, 0xc3, 0xa9, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0x42],
  "utf-16le": [0xff, 0xfe, 0x41, 0x00, 0x3d, 0xd8, 0x00, 0xde, 0x00, 0xd8, 0x42, 0x00, 0x43],
  "utf-16be": [0xfe, 0xff, 0x00, 0x41, 0xd8, 0x3d, 0xde, 0x00, 0xdc, 0x00, 0x00, 0x42, 0x43],
  "gb18030": [0x41, 0x80, 0xd6, 0xd0, 0x81, 0x30, 0x81, 0x30, 0x90, 0x30, 0x81, 0x30, 0x81, 0x30, 0x41, 0x81],
  "gbk": [0xd6, 0xd0, 0x81, 0x30, 0x81, 0x30, 0x80, 0x41],
  "big5": [0xa4, 0x40, 0x88, 0x62, 0x41, 0x81, 0x41, 0xa4],
  "euc-jp": [0xa4, 0xa2, 0x8e, 0xb1, 0x8f, 0xb0, 0xa1, 0x41, 0x8f, 0xb0, 0xa2, 0xa4],
  "iso-2022-jp": [0x41, ESC, 0x24, 0x42, 0x30, 0x21, 0x24, 0x22, ESC, 0x28, 0x4a, 0x5c, ESC, 0x28, 0x42, 0x7e, ESC],
  "shift_jis": [0x82, 0xa0, 0xb1, 0x80, 0x88, 0x9f, 0x81, 0x20, 0xfc, 0x4b, 0x82],
  "euc-kr": [0xb0, 0xa1, 0x81, 0x41, 0xc8, 0xfe, 0x81, 0x20, 0xb0],
  "windows-1252": [0x41, 0x80, 0x81, 0xe9, 0xff],
  "x-user-defined": [0x41, 0x80, 0xff],
};
for (const [encoding, bytes] of Object.entries(streamTexts)) {
  for (const fatal of [false, true]) {
    for (let cut = 0; cut <= bytes.length; cut++) {
      add(encoding, [bytes.slice(0, cut), bytes.slice(cut)], { fatal, what: `stream cut ${cut}` });
    }
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a + 1; b < bytes.length; b++) {
        add(encoding, [bytes.slice(0, a), bytes.slice(a, b), bytes.slice(b)], { fatal, what: `stream cuts ${a} ${b}` });
      }
    }
    add(encoding, bytes.map((byte) => [byte]), { fatal, what: "stream byte by byte" });
  }
}

// A lead byte followed by a byte that cannot follow it, then more text, cut everywhere.
const leadThenInvalid = {
  "shift_jis": [0x81, 0xfe, 0x82, 0xa0, 0x81, 0xff, 0x41, 0xe0, 0x7f, 0x81],
  "euc-kr": [0x81, 0xff, 0xb0, 0xa1, 0xb0, 0x80, 0x41],
  "big5": [0xa4, 0x81, 0x40, 0xa4, 0xa0, 0xa4, 0x40, 0xa4, 0xff],
  "gb18030": [0x81, 0xff, 0x41, 0x81, 0x30, 0xff, 0x41, 0x81, 0x30, 0x81, 0xff, 0xd6, 0xd0],
  "euc-jp": [0x8f, 0xa1, 0x41, 0xa1, 0x80, 0xa4, 0xa2, 0x8e, 0xff, 0x8f, 0xb0, 0xff, 0x41],
};
for (const [encoding, bytes] of Object.entries(leadThenInvalid)) {
  for (let cut = 0; cut <= bytes.length; cut++) {
    add(encoding, [bytes.slice(0, cut), bytes.slice(cut)], { what: `invalid trail, cut ${cut}` });
  }
  add(encoding, bytes.map((byte) => [byte]), { what: "invalid trail, byte by byte" });
  add(encoding, [bytes], { fatal: true, what: "invalid trail fatal" });
}

// Labels: every label of the standard, with whitespace and case, and near misses.
const encodingsJson = JSON.parse(fs.readFileSync(path.join(path.dirname(indexesPath), "encodings.json"), "utf8"));
const labels = [];
for (const group of encodingsJson) {
  for (const encoding of group.encodings) {
    for (const label of encoding.labels) {
      const name = encoding.name.toLowerCase();
      const expected = name === "replacement" ? null : name;
      for (const variant of [label, label.toUpperCase(), ` \t\n\f\r${label}\r\n`]) {
        if (normalizeEncoding(variant) !== name) throw new Error(`reference disagrees on label ${variant}`);
        labels.push([variant, expected]);
      }
    }
  }
}
for (const bad of ["", "utf-8\u000b", "\u00a0utf-8", "\u212aoi8-r", "utf\u0130-8", "latin-1", "x-user-undefined"]) {
  if (normalizeEncoding(bad) !== null) throw new Error(`reference knows label ${bad}`);
  labels.push([bad, null]);
}

const counts = {};
for (const [encoding] of vectors) counts[encoding] = (counts[encoding] ?? 0) + 1;
const out = {
  description:
    "TextDecoder vectors for every WHATWG encoding, written by make_encoding_vectors.mjs: " +
    "[encoding, [hex chunk, ...] (all but the last decoded with stream: true), fatal, ignoreBOM, " +
    "expected string or null for a TypeError, what]. labels: [label, encoding name or null for a RangeError].",
  reference: `@exodus/bytes ${referenceVersion} (the WHATWG decoder algorithms; passes WPT encoding)`,
  node: `Node.js ${process.versions.node}, ICU ${process.versions.icu}: vectors where Node's TextDecoder agrees`,
  node_agreement: nodeAgreement,
  counts,
  labels,
  vectors,
};
fs.writeFileSync(path.join(here, "encoding.json"), JSON.stringify(out) + "\n");
console.log(`${vectors.length} vectors, ${labels.length} labels`);
for (const [encoding, [agree, total]] of Object.entries(nodeAgreement)) {
  if (agree !== total) console.log(`  Node differs from the reference on ${total - agree}/${total} ${encoding} vectors`);
}
