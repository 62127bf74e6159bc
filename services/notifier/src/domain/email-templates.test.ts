import { describe, expect, it } from "vitest";
import {
  type EmailTemplateInput,
  escapeHtml,
  healthAlertStatuses,
  oneLine,
  type RenderedEmail,
  renderEmail,
  safeLinkUrl,
} from "./email-templates.ts";

const HOSTILE = `<script>alert(1)</script> & "quotes" 'single'`;

function rendered(input: EmailTemplateInput): RenderedEmail {
  const result = renderEmail(input);
  if (!result.ok) throw new Error(result.problem);
  return result.email;
}

/** The HTML with every escaped entity removed: what is left of user text must hold no markup. */
function withoutEntities(html: string): string {
  return html.replace(/&(amp|lt|gt|quot|#39);/g, "");
}

describe("disconnected email", () => {
  it("has a subject, HTML and text parts with the reconnect link", () => {
    const email = rendered({
      kind: "disconnected",
      providerName: "Gmail",
      connectionName: "Work inbox",
      reason: "access was revoked.",
      reconnectUrl: "https://app.syncwell.test/connections/c-1/reconnect?provider=google&from=email",
      recipientName: "Ann",
    });
    expect(email.subject).toBe("Gmail (Work inbox) is disconnected from Syncwell");
    expect(email.html).toContain("<!doctype html>");
    expect(email.html).toContain(
      'href="https://app.syncwell.test/connections/c-1/reconnect?provider=google&amp;from=email"',
    );
    expect(email.html).toContain("Reconnect Gmail</a>");
    expect(email.html).toContain("Reason: access was revoked.");
    expect(email.text).toContain("Hello Ann,");
    expect(email.text).toContain(
      "Reconnect Gmail: https://app.syncwell.test/connections/c-1/reconnect?provider=google&from=email",
    );
    expect(email.text).not.toContain("<");
  });

  it("escapes hostile names and reasons in the HTML part and keeps them off new lines", () => {
    const email = rendered({
      kind: "disconnected",
      providerName: HOSTILE,
      connectionName: `x" onmouseover="alert(2)`,
      reason: `</p><img src=x onerror=alert(3)>`,
      reconnectUrl: "https://app.syncwell.test/reconnect",
      recipientName: `<b>Mallory</b>`,
    });
    expect(email.html).toContain(
      "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;single&#39;",
    );
    expect(email.html).not.toContain("<script");
    expect(email.html).not.toContain("<img");
    expect(email.html).not.toContain("<b>");
    expect(email.html).not.toContain('" onmouseover');
    // Only the template's own tags are left once the escaped text is taken out.
    const tags = withoutEntities(email.html).match(/<\/?([a-z!]+)/gi) ?? [];
    expect(new Set(tags.map((t) => t.replace(/[</]/g, "").toLowerCase()))).toEqual(
      new Set(["!doctype", "html", "head", "meta", "title", "body", "p", "a"]),
    );
    expect(email.subject).toContain("<script>alert(1)</script>");
    expect(email.subject).not.toMatch(/[\r\n]/);
  });

  it("puts a name with line breaks on one line in the subject (no header injection)", () => {
    const email = rendered({
      kind: "disconnected",
      providerName: "Gmail\r\nBcc: victim@example.com\r\n\r\n<html>",
      connectionName: "a\u2028b\u0000c",
      reconnectUrl: "https://app.syncwell.test/reconnect",
    });
    expect(email.subject).toBe("Gmail Bcc: victim@example.com <html> (a b c) is disconnected from Syncwell");
    expect(email.subject).not.toMatch(/[\p{Cc}\u2028]/u);
    expect(email.text.split("\n").some((line) => line.startsWith("Bcc:"))).toBe(false);
  });

  it("refuses a reconnect link that is not an absolute http(s) URL", () => {
    for (const reconnectUrl of [
      "javascript:alert(1)",
      " JavaScript:alert(document.cookie)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "/relative/reconnect",
      "https://user:secret@app.syncwell.test/",
      "not a url",
    ]) {
      const result = renderEmail({ kind: "disconnected", providerName: "Gmail", reconnectUrl });
      expect(result, reconnectUrl).toEqual({
        ok: false,
        problem: "reconnectUrl must be an absolute http(s) URL",
      });
    }
  });
});

describe("health alert email", () => {
  it("renders critical, ghost and stalled for contacts, deals and connections", () => {
    const subjects = healthAlertStatuses.map(
      (status) =>
        rendered({
          kind: "health_alert",
          status,
          subjectType: status === "stalled" ? "deal" : "contact",
          subjectName: status === "stalled" ? "Acme renewal" : "Ann Lee",
          reason: "no reply in 45 days",
        }).subject,
    );
    expect(subjects).toEqual([
      "Ann Lee needs attention",
      "Ann Lee has gone quiet",
      "Acme renewal has stalled",
    ]);
    const email = rendered({
      kind: "health_alert",
      status: "critical",
      subjectType: "connection",
      subjectName: "Spotify",
      actionUrl: "https://app.syncwell.test/health/connection/c-1",
    });
    expect(email.text).toContain("Your connection Spotify is now in a critical state.");
    expect(email.text).toContain("Open in Syncwell: https://app.syncwell.test/health/connection/c-1");
    expect(email.html).toContain('href="https://app.syncwell.test/health/connection/c-1"');
  });

  it("has no link without an action URL, and escapes a hostile contact name and reason", () => {
    const email = rendered({
      kind: "health_alert",
      status: "ghost",
      subjectType: "contact",
      subjectName: HOSTILE,
      reason: `<a href="javascript:alert(1)">click</a>`,
    });
    expect(email.html).not.toContain("<a ");
    expect(email.html).not.toContain("<script");
    expect(email.html).toContain("&lt;a href=&quot;javascript:alert(1)&quot;&gt;click&lt;/a&gt;");
    expect(email.text).not.toContain("Open in Syncwell");
  });

  it("refuses a javascript: action URL", () => {
    const result = renderEmail({
      kind: "health_alert",
      status: "stalled",
      subjectType: "deal",
      subjectName: "Acme",
      actionUrl: "javascript:alert(1)",
    });
    expect(result).toEqual({ ok: false, problem: "actionUrl must be an absolute http(s) URL" });
  });

  it("cuts a very long name, in the subject too", () => {
    const email = rendered({
      kind: "health_alert",
      status: "ghost",
      subjectType: "contact",
      subjectName: "x".repeat(5000),
    });
    expect(email.subject.length).toBeLessThanOrEqual(150);
    expect(email.html.length).toBeLessThan(3000);
  });
});

describe("helpers", () => {
  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("flattens text to one line", () => {
    expect(oneLine(" a\r\n\tb  c\u2029d ")).toBe("a b c d");
    expect(oneLine("abcdef", 4)).toBe("abc…");
  });

  it("accepts only absolute http(s) links", () => {
    expect(safeLinkUrl("https://app.syncwell.test/a b")).toBe("https://app.syncwell.test/a%20b");
    expect(safeLinkUrl("http://localhost:3000/x")).toBe("http://localhost:3000/x");
    expect(safeLinkUrl("javascript:alert(1)")).toBeNull();
    expect(safeLinkUrl("java\nscript:alert(1)")).toBeNull();
  });
});
