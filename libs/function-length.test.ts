import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Functions a reader can hold (CONVENTIONS.md, docs/anatomy.md): no function, method or arrow in
 * production code (libs, services, tools; tests, fixtures and generated code aside) is longer than
 * MAX_LINES. A long SQL statement is built from named parts rather than written in one function.
 */
const MAX_LINES = 80;
const root = resolve(import.meta.dirname, "..");
const SKIPPED_DIRS = new Set(["node_modules", "generated", "fixtures", "dist"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return SKIPPED_DIRS.has(name) ? [] : sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts") ? [path] : [];
  });
}

function nameOf(node: ts.Node): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)))
    return parent.name.getText();
  return "(anonymous)";
}

/** Functions of `text` longer than `maxLines`, as `name (N lines)` at their first line. */
function longFunctions(fileName: string, text: string, maxLines: number): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const lines = source.getLineAndCharacterOfPosition(node.end).line - first + 1;
      if (lines > maxLines) found.push(`${fileName}:${first + 1} ${nameOf(node)} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("function length", () => {
  it(`no production function is longer than ${MAX_LINES} lines`, () => {
    const files = ["libs", "services", "tools"].flatMap((dir) => sourceFiles(join(root, dir)));
    expect(files.length).toBeGreaterThan(100);
    const long = files.flatMap((file) =>
      longFunctions(relative(root, file), readFileSync(file, "utf8"), MAX_LINES),
    );
    expect(long).toEqual([]);
  });

  it("finds a long function, a long method and a long arrow", () => {
    const body = Array.from({ length: 5 }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const text = `function f() {\n${body}\n}\nclass C {\n  m() {\n${body}\n  }\n}\nconst a = () => {\n${body}\n};\n`;
    expect(longFunctions("x.ts", text, 4)).toEqual([
      "x.ts:1 f (7 lines)",
      "x.ts:9 m (7 lines)",
      "x.ts:17 a (7 lines)",
    ]);
    expect(longFunctions("x.ts", text, 7)).toEqual([]);
  });
});
