export { cipherFromKeyConfig, type KeyConfig, type KeyConfigIssue, keyConfigIssues } from "./key-config.ts";
export { createTokenCipher, parseKeyList, type TokenCipher, TokenCipherError } from "./token-cipher.ts";
