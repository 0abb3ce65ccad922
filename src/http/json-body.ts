/**
 * The JSON body parser: JSON.parse straight, without fastify's scan of the text for poisoned
 * keys, when the text cannot hold one. fastify's guarded parser (secure-json-parse) looks for a
 * "__proto__" or "constructor" key with two regular expressions over the whole text, written
 * plainly or with \u escapes; a text containing none of "proto", "constructor" or "\u" matches
 * neither, and that parser would return JSON.parse's own answer. Every other text, and any text
 * JSON.parse refuses (an empty body included), goes to the guarded parser, so what is refused,
 * and how, is exactly fastify's. A rank request is a few hundred bytes of ids, where the scan
 * was most of the parse.
 */
import type { FastifyInstance } from "fastify";

export function useJsonBodyParser(f: FastifyInstance): void {
  const guarded = f.getDefaultJsonParser("error", "error");
  f.removeContentTypeParser("application/json");
  f.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = body as string;
    if (text.length > 0 && !text.includes("proto") && !text.includes("constructor") && !text.includes("\\u")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return guarded(req, text, done);
      }
      return done(null, parsed);
    }
    guarded(req, text, done);
  });
}
