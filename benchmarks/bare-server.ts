/** The baseline: a bare fastify route answering a constant JSON body of a given size. */
import Fastify from "fastify";

const bytes = Number(process.argv[2] ?? 2000);
const body = JSON.stringify({ items: [], pad: "x".repeat(Math.max(0, bytes - 24)) });
const f = Fastify();
f.post("/rank", async (_req, reply) => reply.type("application/json; charset=utf-8").send(body));
const url = await f.listen({ host: "127.0.0.1", port: 0 });
process.stderr.write(`HTTP on ${url}; bare route, ${body.length} bytes\n`);
process.on("SIGTERM", () => f.close().then(() => process.exit(0)));
