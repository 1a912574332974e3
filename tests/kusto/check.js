// Reads {"tables": {name: "(col:type, ...)"}, "queries": {name: text}} on stdin and prints, per query, the
// errors Microsoft's Kusto language service (@kusto/language-service-next) reports against those tables.
"use strict";
require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const Symbols = Kusto.Language.Symbols;
const tables = Object.entries(input.tables).map(
  ([name, schema]) => new Symbols.TableSymbol.$ctor7(name, schema, null));
const database = new Symbols.DatabaseSymbol.$ctor1("resourcegraph", Bridge.toList(tables), false);
const globals = Kusto.Language.GlobalState.Default.WithDatabase(database);

const out = {};
for (const [name, text] of Object.entries(input.queries)) {
  const code = Kusto.Language.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const errors = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    if (d.Severity === "Error") {
      errors.push({ code: d.Code, message: d.Message, start: d.Start, text: text.substr(d.Start, Math.max(d.Length, 1)) });
    }
  }
  out[name] = errors;
}
process.stdout.write(JSON.stringify(out));
