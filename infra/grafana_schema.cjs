// Turns @grafana/schema's TypeScript types into JSON Schemas (run by infra/grafana_schema.py).
//
//   node infra/grafana_schema.cjs INSTALL_DIR OUT_FILE
//
// INSTALL_DIR holds node_modules with @grafana/schema and ts-json-schema-generator. OUT_FILE gets
// one JSON object: the package version, the dashboard schemaVersion of its defaultDashboard, the
// classic (v1) dashboard model as a JSON Schema, and per panel plugin the schemas of its Options
// and FieldConfig types and its pluginVersion. One TypeScript program serves every type.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const [installDir, outFile] = process.argv.slice(2);
if (!installDir || !outFile) {
  console.error("usage: node grafana_schema.cjs INSTALL_DIR OUT_FILE");
  process.exit(2);
}
const need = createRequire(path.join(path.resolve(installDir), "package.json"));
const tsj = need("ts-json-schema-generator");
const pkgDir = path.dirname(need.resolve("@grafana/schema/package.json"));
const types = path.join(pkgDir, "dist", "types", "raw");
const dashboardFile = path.join(types, "dashboard", "x", "types.gen.d.ts");
const composable = path.join(types, "composable");
const plugins = fs
  .readdirSync(composable)
  .filter((name) => fs.existsSync(path.join(composable, name, "panelcfg", "x", "types.gen.d.ts")))
  .sort();
const pluginFile = (name) => path.join(composable, name, "panelcfg", "x", "types.gen.d.ts");

const config = {
  ...tsj.DEFAULT_CONFIG,
  path: "", // roots are given to createProgram below
  skipTypeCheck: true,
  // TypeScript interfaces are closed: a key that the type does not declare is an error.
  additionalProperties: false,
};
const ts = need("typescript");
const program = ts.createProgram([dashboardFile, ...plugins.map(pluginFile)], {
  noEmit: true,
  target: ts.ScriptTarget.ES2020,
  module: ts.ModuleKind.CommonJS,
  strictNullChecks: true,
});
const generator = new tsj.SchemaGenerator(
  program,
  tsj.createParser(program, config),
  tsj.createFormatter(config),
  config,
);

// The exported declaration `name` of one file, or undefined.
function declaration(file, name) {
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`TypeScript did not load ${file}`);
  return source.statements.find(
    (s) =>
      (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) &&
      s.name.text === name &&
      s.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword),
  );
}

function schemaOf(file, name) {
  const node = declaration(file, name);
  return node ? generator.createSchemaFromNodes([node]) : undefined;
}

// `export declare const pluginVersion = "13.2.2";` in each plugin's file.
function pluginVersion(file) {
  const match = fs.readFileSync(file, "utf8").match(/pluginVersion = "([^"]+)"/);
  return match ? match[1] : null;
}

// defaultDashboard.schemaVersion from the package's compiled defaults.
function defaultSchemaVersion() {
  const js = fs.readFileSync(path.join(pkgDir, "dist", "cjs", "raw", "dashboard", "x", "types.gen.cjs"), "utf8");
  const block = js.slice(js.indexOf("defaultDashboard"));
  const match = block.match(/schemaVersion:\s*(\d+)/);
  if (!match) throw new Error("no schemaVersion in @grafana/schema's defaultDashboard");
  return Number(match[1]);
}

const dashboard = schemaOf(dashboardFile, "Dashboard");
if (!dashboard) throw new Error(`no Dashboard type in ${dashboardFile}`);
const panels = {};
for (const name of plugins) {
  const file = pluginFile(name);
  try {
    const options = schemaOf(file, "Options");
    const fieldConfig = schemaOf(file, "FieldConfig");
    panels[name] = { pluginVersion: pluginVersion(file), options, fieldConfig };
  } catch (error) {
    // Recorded, not fatal: the tests fail only for a plugin that our dashboards use.
    panels[name] = { pluginVersion: pluginVersion(file), error: String(error.message || error) };
  }
}
const result = {
  package: "@grafana/schema",
  version: need("@grafana/schema/package.json").version,
  schemaVersion: defaultSchemaVersion(),
  dashboard,
  panels,
};
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(`${outFile}.tmp`, JSON.stringify(result, null, 1));
fs.renameSync(`${outFile}.tmp`, outFile);
console.log(`${plugins.length} panel plugins, dashboard schemaVersion ${result.schemaVersion}`);
