import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { bearerAuth } from "./bearer-auth.ts";

const OLD = "old-key-0123456789abcdef0123456789";
const NEW = "new-key-fedcba9876543210fedcba9876";

async function statusWith(secret: string | readonly string[], authorization?: string): Promise<number> {
  const app = Fastify();
  app.addHook("onRequest", bearerAuth(secret, { realm: "test" }));
  app.get("/", async () => ({ ok: true }));
  const res = await app.inject({ method: "GET", url: "/", headers: authorization ? { authorization } : {} });
  await app.close();
  return res.statusCode;
}

describe("bearerAuth", () => {
  it("takes one secret, or several valid at once (a key rotation), and nothing else", async () => {
    expect(await statusWith(OLD, `Bearer ${OLD}`)).toBe(200);
    expect(await statusWith(OLD, `Bearer ${NEW}`)).toBe(401);
    for (const key of [OLD, NEW]) expect(await statusWith([OLD, NEW], `Bearer ${key}`)).toBe(200);
    for (const header of [undefined, `Bearer ${OLD}${NEW}`, `Bearer ${OLD.slice(1)}`, `Basic ${OLD}`]) {
      expect(await statusWith([OLD, NEW], header)).toBe(401);
    }
    expect(await statusWith([], `Bearer ${OLD}`)).toBe(401);
  });
});
