// Parses an AsyncAPI document with the reference parser (@asyncapi/parser) and fails on any
// diagnostic of severity error.
//
//   node tests/asyncapi/validate.mjs path/to/asyncapi.json
//
// Prints "ok" and exits 0 when the document is valid; prints every error and exits 1 otherwise.

import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs path/to/asyncapi.json");
  process.exit(2);
}

const ERROR = 0; // DiagnosticSeverity.Error
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"));
const errors = diagnostics.filter((diagnostic) => diagnostic.severity === ERROR);
for (const error of errors) {
  console.error(`${error.code}: ${error.message} at /${error.path.join("/")}`);
}
if (errors.length > 0 || !document) {
  process.exit(1);
}
console.log("ok");
