export { createTokenCipher, parseKeyList, type TokenCipher, TokenCipherError } from "./token-cipher.ts";
