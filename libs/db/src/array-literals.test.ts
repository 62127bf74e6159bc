import { describe, expect, it } from "vitest";
import { ColumnsText, joinFlat, quoted } from "./array-literals.ts";

describe("array literals", () => {
  it("quotes text as an array element, escaping only quotes and backslashes", () => {
    expect(quoted("plain, with {braces}")).toBe('"plain, with {braces}"');
    expect(quoted('say "hi" \\ bye')).toBe('"say \\"hi\\" \\\\ bye"');
  });

  it("joins texts between an opening and a closing, empty or not", () => {
    expect(joinFlat([], ",", "[", "]")).toBe("[]");
    expect(joinFlat(["a"], ",", "{", "}")).toBe("{a}");
    expect(joinFlat([1, "b", 3], ",", "{", "}")).toBe("{1,b,3}");
  });

  it("turns rows into one array literal per column", () => {
    const columns = new ColumnsText(3);
    columns.row(0, quoted("x"), "NULL");
    columns.row(1, quoted('y"'), 17);
    expect(columns.arrays()).toEqual(["{0,1}", '{"x","y\\""}', "{NULL,17}"]);
    expect(new ColumnsText(2).arrays()).toEqual(["{}", "{}"]);
  });
});
