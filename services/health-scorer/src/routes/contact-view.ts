import type { ContactRow } from "../repositories/contacts.repository.ts";

/** What the API shows of a contact. */
export type ContactView = {
  id: string;
  userId: string;
  email: string;
  name: string | null;
  externalId: string | null;
  createdAt: string;
  updatedAt: string;
};

export function toContactView(row: ContactRow): ContactView {
  return {
    id: row.id,
    userId: row.userId,
    email: row.email,
    name: row.name,
    externalId: row.externalId,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
